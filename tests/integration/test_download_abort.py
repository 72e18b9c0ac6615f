"""A download whose data ends mid-stream cuts the connection: never a 200 that looks whole."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.integration._server import create_image, running, upload_ok

MiB = 1 << 20


def _read_until_closed(sock: socket.socket) -> bytes:
    got = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return got


def test_data_truncated_mid_stream_aborts_the_connection(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server, server.client() as client:
        image_id = create_image(client)
        data = os.urandom(48 * MiB)
        upload_ok(client, image_id, data)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(f"GET /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            first = sock.recv(65536)
            # the status line is out; now the data shrinks under the reader
            os.truncate(server.store_dir / image_id, 2 * MiB)
            rest = _read_until_closed(sock)
        head, _, body = (first + rest).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert f"content-length: {len(data)}".encode() in head.lower()
        # the server closed the connection short of Content-Length: the client sees an error
        assert len(body) < len(data)
        log = server.log()
        assert "aborted after 2097152 of" in log
        assert server.unexpected_errors() == []
        # the server is fine and keeps serving
        assert client.get(f"/v2/images/{image_id}").status_code == 200
