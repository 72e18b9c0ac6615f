"""One live server per data dir: a second one refuses before touching anything.

Before the lock, ``./run serve`` started twice ran start-up recovery on the first server's data
dir (even when it then failed to get the port): the first server's in-flight upload went back to
``queued`` and its partial file was deleted.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cowshed.services.datadir import DataDirLock, Holder, read_holder
from tests.integration._server import COWSHED, Server, create_image, free_port, md5

MiB = 1 << 20
OCTET = {"Content-Type": "application/octet-stream"}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("COWSHED_")}


def cowshed(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COWSHED), *args], capture_output=True, text=True,
                          timeout=timeout, env=clean_env(), check=False)


def wait_for(predicate: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


class GatedUpload:
    """An upload whose first half is sent at once and whose second half waits for ``go``."""

    def __init__(self, server: Server, image_id: str, size: int) -> None:
        self.data = os.urandom(size)
        self.go = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(server, image_id), daemon=True)
        self._thread.start()

    def _body(self) -> Iterator[bytes]:
        half = len(self.data) // 2
        yield self.data[:half]
        self.go.wait(600)
        yield self.data[half:]

    def _run(self, server: Server, image_id: str) -> None:
        try:
            with httpx.Client(timeout=300) as client:
                resp = client.put(f"{server.url}/v2/images/{image_id}/file", content=self._body(),
                                  headers={**OCTET, "Content-Length": str(len(self.data))})
            self.status = resp.status_code
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> int | None:
        self.go.set()
        self._thread.join(timeout=300)
        assert self.error is None, self.error
        return self.status


def part_bytes(server: Server) -> int:
    return sum(p.stat().st_size for p in server.part_files() if p.exists())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.start(timeout=180)
    try:
        yield srv
    finally:
        srv.kill()


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


def test_a_second_server_leaves_the_first_ones_upload_alone(server: Server) -> None:
    with server.client() as client:
        image_id = create_image(client, name="in-flight")
    upload = GatedUpload(server, image_id, 24 * MiB)
    try:
        wait_for(lambda: part_bytes(server) >= 8 * MiB)
        assert server.db_status(image_id) == "saving"
        # the accident of the issue: the same command again (same port), and one on another port
        for port in (server.port, free_port()):
            second = cowshed("serve", "--data-dir", str(server.data_dir), "--port", str(port))
            assert second.returncode == 1
            line = one_line(second.stderr)
            assert f"pid {server.proc.pid if server.proc else '?'}" in line
            assert f":{server.port}" in line
            assert "another --data-dir" in line
            assert server.db_status(image_id) == "saving"
            assert server.part_files(), "the refused server removed the partial upload"
    finally:
        status = upload.finish()
    assert status == 204
    with server.client() as client:
        record = client.get(f"/v2/images/{image_id}").json()
        assert record["status"] == "active"
        assert record["size"] == len(upload.data)
        assert record["checksum"] == md5(upload.data)
        assert record["os_hash_value"] == hashlib.sha512(upload.data).hexdigest()
        assert client.get(f"/v2/images/{image_id}/file").content == upload.data
    assert server.unexpected_errors() == []


def test_recovery_waits_for_the_port(tmp_path: Path) -> None:
    """A server that cannot get its port has recovered nothing: recovery runs after the bind."""
    srv = Server(tmp_path / "data")
    srv.start(timeout=180)
    with srv.client() as client:
        image_id = create_image(client, name="crashed")
    upload = GatedUpload(srv, image_id, 16 * MiB)
    wait_for(lambda: part_bytes(srv) >= 4 * MiB)
    srv.kill()  # a crash: the image stays saving with a partial file, for the next start
    upload.go.set()
    assert srv.db_status(image_id) == "saving"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = cowshed("serve", "--data-dir", str(srv.data_dir), "--port", str(port))
    assert refused.returncode == 1
    assert "the port is in use; pass another --port" in one_line(refused.stderr)
    assert srv.db_status(image_id) == "saving"
    assert srv.part_files(), "recovery ran although the server never got its port"
    srv.start(timeout=180)  # and with a port, recovery runs as before
    try:
        assert srv.db_status(image_id) == "queued"
        assert srv.part_files() == []
    finally:
        srv.kill()


def test_cli_writes_are_refused_while_a_server_holds_the_data_dir(server: Server) -> None:
    listed = cowshed("image", "list", "--data-dir", str(server.data_dir), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    made = cowshed("image", "create", "--name", "x", "--data-dir", str(server.data_dir))
    assert made.returncode == 1
    line = one_line(made.stderr)
    assert f"http://127.0.0.1:{server.port}" in line
    volume = cowshed("volume", "create", "v", "--size", "1", "--data-dir", str(server.data_dir))
    assert volume.returncode == 1
    assert f"http://127.0.0.1:{server.port}" in one_line(volume.stderr)
    with server.client() as client:
        assert client.get("/v2/images").json()["images"] == []


def test_a_server_refuses_while_a_cli_command_writes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DataDirLock.acquire(data_dir, Holder(os.getpid(), "test"), exclusive=False):
        refused = cowshed("serve", "--data-dir", str(data_dir), "--port", str(free_port()))
    assert refused.returncode == 1
    assert f"cowshed commands (pid {os.getpid()})" in one_line(refused.stderr)
    assert sorted(p.name for p in data_dir.iterdir()) == [".lock"]  # nothing else touched


def test_signals_end_the_server_and_free_the_data_dir(tmp_path: Path) -> None:
    """Ctrl-C exits 130 and SIGTERM 143, each after a graceful stop that frees the lock: the
    next server gets the data dir at once."""
    srv = Server(tmp_path / "data")
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        srv.start(timeout=180)
        assert srv.proc is not None
        holder = read_holder(srv.data_dir)
        assert holder is not None
        assert (holder.pid, holder.port, holder.host) == (srv.proc.pid, srv.port, "127.0.0.1")
        srv.proc.send_signal(sig)
        assert srv.proc.wait(timeout=120) == code
        srv.proc = None
        assert read_holder(srv.data_dir) is None
