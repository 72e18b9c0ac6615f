"""A client that goes away in the middle of an upload: the image returns to queued, no debris."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._server import Server, create_image, upload_ok

MiB = 1 << 20


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def wait_status(server: Server, image_id: str, status: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while time.monotonic() < deadline:
            if client.get(f"/v2/images/{image_id}").json()["status"] == status:
                return
            time.sleep(0.05)
        got = client.get(f"/v2/images/{image_id}").json()["status"]
    raise AssertionError(f"image {image_id} is {got}, expected {status}")


def wait_no_parts(server: Server, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while server.part_files() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.part_files() == []


def abandon(server: Server, image_id: str, *, chunked: bool, sent: int, reset: bool) -> None:
    """Send the headers and ``sent`` bytes of a 10 MiB upload, then close the socket."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/octet-stream\r\n")
    block = os.urandom(sent)
    if chunked:
        sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
        sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
    else:
        sock.sendall((head + f"Content-Length: {10 * MiB}\r\n\r\n").encode())
        sock.sendall(block)
    # the server really is mid-upload before the client leaves
    wait_status(server, image_id, "saving")
    if reset:  # RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


@pytest.mark.parametrize(("chunked", "reset"), [(False, False), (True, False), (False, True)],
                         ids=["content-length", "chunked", "reset"])
def test_client_disconnect_mid_upload(server: Server, chunked: bool, reset: bool) -> None:
    with server.client() as client:
        image_id = create_image(client, name="abandoned")
    abandon(server, image_id, chunked=chunked, sent=MiB, reset=reset)
    wait_status(server, image_id, "queued")
    wait_no_parts(server)
    assert server.committed_files() == []
    with server.client() as client:
        record = client.get(f"/v2/images/{image_id}").json()
        assert (record["size"], record["checksum"]) == (None, None)
        assert client.get(f"/v2/images/{image_id}/file").status_code == 204
        upload_ok(client, image_id, os.urandom(3 * MiB))
    assert server.alive()
    assert server.unexpected_errors() == []


def test_many_abandoned_uploads_leave_the_server_healthy(server: Server) -> None:
    with server.client() as client:
        ids = [create_image(client, name=f"a{i}") for i in range(6)]
    for i, image_id in enumerate(ids):
        abandon(server, image_id, chunked=bool(i % 2), sent=(i + 1) * 100_000, reset=i % 3 == 0)
    for image_id in ids:
        wait_status(server, image_id, "queued")
    wait_no_parts(server)
    with server.client() as client:
        for image_id in ids:
            upload_ok(client, image_id, os.urandom(1000))
    assert server.unexpected_errors() == []
