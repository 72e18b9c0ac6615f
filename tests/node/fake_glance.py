"""A minimal image endpoint for fault injection only: it serves whatever metadata and bytes a
test gives it (wrong checksums, hostile data, a stream cut short, a stall), and counts data
requests. Every other node test talks to the real ``cowshed serve``."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeImage:
    data: bytes
    disk_format: str = "raw"
    checksum: str | None = None
    os_hash_value: str | None = None
    #: stop the body after this many bytes (the connection is closed)
    cut_at: int | None = None
    #: seconds to sleep after half of the body (for SIGKILL tests)
    stall: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def meta(self, image_id: str) -> dict[str, Any]:
        return {
            "id": image_id, "name": image_id, "status": "active",
            "disk_format": self.disk_format, "container_format": "bare",
            "size": len(self.data), "virtual_size": None,
            "checksum": self.checksum or hashlib.md5(self.data).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": self.os_hash_value or hashlib.sha512(self.data).hexdigest(),
            "min_disk": 0, **self.extra,
        }


@dataclass
class FakeGlance:
    images: dict[str, FakeImage] = field(default_factory=dict)
    downloads: int = 0
    url: str = ""


@contextmanager
def fake_glance() -> Iterator[FakeGlance]:
    state = FakeGlance()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            image = state.images.get(parts[2]) if len(parts) >= 3 else None
            if image is None:
                self._send(404, b'{"message": "not found"}')
            elif len(parts) == 3:
                self._send(200, json.dumps(image.meta(parts[2])).encode())
            else:
                state.downloads += 1
                self._body(image)

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self, image: FakeImage) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(image.data)))
            self.end_headers()
            data = image.data if image.cut_at is None else image.data[:image.cut_at]
            half = len(data) // 2
            self.wfile.write(data[:half])
            self.wfile.flush()
            if image.stall:
                time.sleep(image.stall)
            self.wfile.write(data[half:])
            if image.cut_at is not None:
                self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
