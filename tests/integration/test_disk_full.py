"""A store on a full filesystem: 413, the image back to queued, nothing left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._server import Server, create_image, raw_exchange, upload_ok

MiB = 1 << 20


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs; skipped only when mounting is not permitted here."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot mount a tmpfs here: {exc} {detail.decode(errors='replace')}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True, timeout=30)


@pytest.fixture
def server(tmp_path: Path, small_fs: Path) -> Iterator[Server]:
    store = small_fs / "images"
    config = tmp_path / "cowshed.toml"
    config.write_text(
        'default_backend = "file"\n\n'
        "[stores.file]\n"
        'type = "file"\n'
        f'filesystem_store_datadir = "{store}"\n'
    )
    srv = Server(tmp_path / "data", config)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def put_request(image_id: str, size: int, *, chunked: bool) -> Iterator[bytes]:
    # not zeros: the file store writes zero runs as holes, which would never fill the disk
    block = os.urandom(MiB)
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n")
    if chunked:
        yield (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        for _ in range(size // MiB):
            yield f"{MiB:x}\r\n".encode() + block + b"\r\n"
        yield b"0\r\n\r\n"
    else:
        yield (head + f"Content-Length: {size}\r\n\r\n").encode()
        for _ in range(size // MiB):
            yield block


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_bigger_than_the_store_is_413(server: Server, small_fs: Path,
                                            chunked: bool) -> None:
    store = small_fs / "images"
    with server.client() as client:
        image_id = create_image(client, name="too-big")
        resp = raw_exchange(server.port, put_request(image_id, 64 * MiB, chunked=chunked),
                            read_timeout=30)
        assert resp.status == 413, (resp, server.log()[-3000:])
        record = client.get(f"/v2/images/{image_id}").json()
        assert record["status"] == "queued"
        assert (record["size"], record["checksum"]) == (None, None)
        assert server.part_files(store) == []
        assert server.committed_files(store) == []
        # the space came back: a small image fits
        data = os.urandom(2 * MiB)
        upload_ok(client, image_id, data)
        assert server.committed_files(store) == [store / image_id]
        assert client.get("/versions").status_code == 200
    assert server.unexpected_errors() == []


def test_error_body_of_413(server: Server) -> None:
    with server.client() as client:
        image_id = create_image(client)
        resp = raw_exchange(server.port, put_request(image_id, 48 * MiB, chunked=False),
                            read_timeout=30)
        assert resp.status == 413
        # plain text (no Accept: application/json), webob's shape
        assert resp.body.startswith(b"413 Request Entity Too Large\n\n") or \
            resp.body.startswith(b"413 Content Too Large\n\n"), resp.body
        assert b"no space left" in resp.body.lower()
        assert client.get(f"/v2/images/{image_id}").json()["status"] == "queued"
