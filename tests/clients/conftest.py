"""One real ``cowshed serve`` process for the client tests, and the payloads they upload.

The server runs for the whole session on a free port with a temporary data dir; requests carry
no credentials (the server runs them as its one admin), so clients use their no-auth modes:
``glance --os-image-url URL --os-auth-token x``, ``glanceclient.Client('2', endpoint=URL,
token='x')``, ``openstack.connect(auth_type='none', …)`` and
``openstack --os-auth-type none --os-endpoint URL``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.helpers import LiveServer, MiB, Payload, client_env, make_payload, tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"cowshed serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(url + "/versions", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"cowshed serve did not answer /versions:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("clients-data")
    log_path = data / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [tool("cowshed"), "serve", "--data-dir", str(data), "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env=client_env(),
        )
        try:
            _wait_ready(proc, url, log_path)
            yield LiveServer(url=url, data_dir=data, pid=proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, 16 * MiB)
            fh.write(os.urandom(n))
            left -= n
    return path


@pytest.fixture(scope="session")
def small_payload(tmp_path_factory: pytest.TempPathFactory) -> Payload:
    """3 MiB and a few bytes: not a multiple of any block size."""
    return make_payload(random_file(tmp_path_factory.mktemp("small") / "small.raw", 3 * MiB + 517))


@pytest.fixture(scope="session")
def large_payload(tmp_path_factory: pytest.TempPathFactory) -> Payload:
    """256 MiB of random bytes."""
    return make_payload(random_file(tmp_path_factory.mktemp("large") / "large.raw", 256 * MiB))


@pytest.fixture(scope="session")
def sparse_payload(tmp_path_factory: pytest.TempPathFactory) -> Payload:
    """A 1 GiB sparse file with 1.5 MiB of data at its start, in the middle and at its end."""
    path = tmp_path_factory.mktemp("sparse") / "sparse.raw"
    size = 1 << 30
    with path.open("wb") as fh:
        fh.truncate(size)
        for offset in (0, 511 * MiB + 12345, size - 2 * MiB):
            fh.seek(offset)
            fh.write(os.urandom(MiB) + b"\x5a" * (MiB // 2))
    return make_payload(path)
