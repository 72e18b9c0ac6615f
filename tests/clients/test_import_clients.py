"""Interoperable import driven by real OpenStack clients against a real ``cowshed serve``.

openstacksdk talks to the server with ``auth_type="none"`` and an endpoint override; the
``glance`` CLI with ``--os-image-url`` and a dummy ``--os-auth-token`` (no keystone involved).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api._import_fixtures import SourceServer
from tests.hostile_images import content_raw

openstack = pytest.importorskip("openstack")
pytestmark = pytest.mark.clients

BIN = Path(sys.executable).parent
MiB = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("client-source")
    content_raw(d / "disk.raw", size=3 * MiB, seed=11)
    content_raw(d / "web.raw", size=2 * MiB, seed=12)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(d / "disk.raw"),
                    str(d / "disk.qcow2")], check=True)
    return d


@pytest.fixture(scope="module")
def source(source_dir: Path) -> Iterator[SourceServer]:
    with SourceServer(source_dir) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, source: SourceServer) -> Iterator[str]:
    """A real ``cowshed serve`` process; yields its base URL."""
    data = tmp_path_factory.mktemp("client-data")
    config = data / "cowshed.toml"
    config.write_text(f"allowed_ports = [{source.port}]\n")
    port = _free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "cowshed"), "serve", "--data-dir", str(data), "--config", str(config),
         "--port", str(port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("COWSHED_")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (data / "server.log").read_text()
            try:
                if httpx.get(url + "/versions", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "cowshed serve did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def conn(server: str) -> Any:
    return openstack.connection.Connection(auth_type="none", endpoint=server,
                                           image_endpoint_override=server)


def _digests(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()


def _wait_active(server: str, image_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = httpx.get(f"{server}/v2/images/{image_id}").json()
        if image["status"] == "active":
            return image
        tasks = httpx.get(f"{server}/v2/images/{image_id}/tasks").json()["tasks"]
        failed = [t["message"] for t in tasks if t["status"] == "failure"]
        assert not failed, failed
        assert time.monotonic() < deadline, f"image {image_id} is still {image['status']}"
        time.sleep(0.05)


def _check(server: str, image_id: str, path: Path) -> None:
    image = _wait_active(server, image_id)
    md5, sha = _digests(path)
    assert (image["checksum"], image["os_hash_value"]) == (md5, sha)
    assert image["size"] == path.stat().st_size
    assert httpx.get(f"{server}/v2/images/{image_id}/file").content == path.read_bytes()


def test_sdk_stage_then_glance_direct(conn: Any, server: str, source_dir: Path) -> None:
    path = source_dir / "disk.qcow2"
    image = conn.image.create_image(name="sdk-gd", disk_format="qcow2", container_format="bare")
    conn.image.stage_image(image, filename=str(path))
    assert conn.image.get_image(image).status == "uploading"
    conn.image.import_image(image, method="glance-direct")
    _check(server, image.id, path)
    assert conn.image.get_image(image).virtual_size == 3 * MiB


def test_sdk_web_download(conn: Any, server: str, source: SourceServer,
                          source_dir: Path) -> None:
    image = conn.image.create_image(name="sdk-web", disk_format="raw", container_format="bare")
    conn.image.import_image(image, method="web-download", uri=source.url("web.raw"))
    _check(server, image.id, source_dir / "web.raw")


def test_sdk_create_image_use_import(conn: Any, server: str, source_dir: Path) -> None:
    path = source_dir / "disk.raw"
    image = conn.image.create_image(name="sdk-use-import", filename=str(path),
                                    disk_format="raw", container_format="bare",
                                    use_import=True, validate_checksum=False)
    _check(server, image.id, path)


def test_sdk_web_download_failure_is_reported(conn: Any, server: str,
                                              source: SourceServer) -> None:
    image = conn.image.create_image(name="sdk-404", disk_format="raw", container_format="bare")
    conn.image.import_image(image, method="web-download", uri=source.url("missing.raw"))
    deadline = time.monotonic() + 30
    while True:
        got = conn.image.get_image(image)
        if got.properties.get("os_glance_failed_import") == "file":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert got.status == "queued"


def _glance(server: str, *args: str, stdin: Path | None = None) -> str:
    """Run the glance CLI. Without ``stdin`` its stdin is closed: glanceclient takes any
    non-tty stdin as image data."""
    argv = [str(BIN / "glance"), "--os-image-url", server, "--os-auth-token", "x", *args]
    redirect = f"< {shlex.quote(str(stdin))}" if stdin else "<&-"
    proc = subprocess.run(
        f"exec {shlex.join(argv)} {redirect}", shell=True, capture_output=True, text=True,
        timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("OS_")},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def _id_from_table(out: str) -> str:
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 2 and cells[1] == "id":
            return cells[2]
    raise AssertionError(f"no id in glance output:\n{out}")


def test_glance_cli_create_via_import_glance_direct(server: str, source_dir: Path) -> None:
    path = source_dir / "disk.raw"
    # the CLI reads the data from stdin (with --file it refuses a non-tty stdin)
    out = _glance(server, "image-create-via-import", "--import-method", "glance-direct",
                  "--disk-format", "raw", "--container-format", "bare", "--name", "cli-gd",
                  stdin=path)
    _check(server, _id_from_table(out), path)


def test_glance_cli_create_via_import_web_download(server: str, source: SourceServer,
                                                   source_dir: Path) -> None:
    out = _glance(server, "image-create-via-import", "--import-method", "web-download",
                  "--uri", source.url("web.raw"), "--disk-format", "raw",
                  "--container-format", "bare", "--name", "cli-web")
    _check(server, _id_from_table(out), source_dir / "web.raw")


def test_glance_cli_stage_then_import(server: str, source_dir: Path) -> None:
    path = source_dir / "disk.qcow2"
    image_id = _id_from_table(_glance(server, "image-create", "--disk-format", "qcow2",
                                      "--container-format", "bare", "--name", "cli-stage"))
    _glance(server, "image-stage", "--file", str(path), image_id)
    _glance(server, "image-import", "--import-method", "glance-direct", image_id)
    _check(server, image_id, path)
    # (``glance image-tasks`` needs API v2.12, which Glance, like cowshed, only announces with
    # multiple stores; the tasks are checked over HTTP instead)
    tasks = httpx.get(f"{server}/v2/images/{image_id}/tasks").json()["tasks"]
    assert [t["status"] for t in tasks] == ["success"]
