"""A real server's operations: JSON log lines carrying the request id, and a graceful shutdown
that lets an upload in flight finish or, past ``shutdown_grace``, aborts it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

from tests.integration._server import Server, create_image

MiB = 1 << 20


def _server(tmp_path: Path, **settings: object) -> Server:
    config = tmp_path / "cowshed.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    server = Server(tmp_path / "data", config)
    server.start()
    return server


def _log_lines(server: Server) -> list[str]:
    text = server.log_path.read_text(errors="replace")
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("=====")]


def test_json_log_lines_carry_the_request_id(tmp_path: Path) -> None:
    server = _server(tmp_path, log_format="json")
    try:
        with server.client() as client:
            image_id = create_image(client)
            resp = client.put(f"/v2/images/{image_id}/file", content=b"x" * 1000,
                              headers={"Content-Type": "application/octet-stream"})
            assert resp.status_code == 204
            request_id = resp.headers["x-openstack-request-id"]
    finally:
        server.stop()
    entries = [json.loads(line) for line in _log_lines(server)]  # every line is JSON
    assert {"time", "level", "logger", "message", "process"} <= set(entries[0])
    mine = [e for e in entries if e.get("request_id") == request_id]
    assert any(e["logger"] == "cowshed.access" and f"/v2/images/{image_id}/file" in e["message"]
               for e in mine), mine
    assert any(e["logger"].startswith("uvicorn") for e in entries)


def _start_upload(server: Server, image_id: str, size: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall((f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  f"Content-Length: {size}\r\n\r\n").encode() + first)
    return sock


def _wait_status(server: Server, image_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while server.db_status(image_id) != status:
        assert time.monotonic() < deadline, server.db_status(image_id)
        time.sleep(0.05)


def test_shutdown_lets_an_upload_in_flight_finish(tmp_path: Path) -> None:
    server = _server(tmp_path, shutdown_grace=60)
    assert server.proc is not None
    with server.client() as client:
        image_id = create_image(client)
    data = os.urandom(16 * MiB)
    sock = _start_upload(server, image_id, len(data), data[: 8 * MiB])
    _wait_status(server, image_id, "saving")
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert server.alive(), "the server must wait for the upload"
    sock.sendall(data[8 * MiB:])
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 204"), answer
    server.proc.wait(timeout=60)
    server.proc = None
    assert server.db_status(image_id) == "active"
    assert (server.store_dir / image_id).read_bytes() == data
    assert server.part_files() == []
    assert server.unexpected_errors() == []


def test_shutdown_aborts_an_upload_still_running_after_the_grace(tmp_path: Path) -> None:
    server = _server(tmp_path, shutdown_grace=2)
    assert server.proc is not None
    with server.client() as client:
        image_id = create_image(client)
    sock = _start_upload(server, image_id, 64 * MiB, os.urandom(8 * MiB))
    _wait_status(server, image_id, "saving")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=60)
    server.proc = None
    assert time.monotonic() - started < 30
    sock.close()
    assert server.db_status(image_id) == "queued"  # aborted cleanly, not left saving
    assert not (server.store_dir / image_id).exists()
    assert server.part_files() == []
    assert server.unexpected_errors() == []
