"""A pass-through HTTP proxy in front of the real image service that counts image-data GETs
(the server keeps no access log). Only GET is needed by spawns."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_DATA = re.compile(r"^/v2/images/[^/]+/file$")


@dataclass
class Counter:
    url: str = ""
    data_gets: int = 0


@contextmanager
def counting_proxy(upstream: str) -> Iterator[Counter]:
    counter = Counter()
    lock = threading.Lock()
    client = httpx.Client(base_url=upstream, timeout=120)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if _DATA.match(self.path):
                with lock:
                    counter.data_gets += 1
            with client.stream("GET", self.path) as resp:
                self.send_response(resp.status_code)
                for name in ("content-type", "content-length", "content-md5"):
                    if name in resp.headers:
                        self.send_header(name, resp.headers[name])
                self.end_headers()
                for chunk in resp.iter_raw(1 << 20):
                    self.wfile.write(chunk)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    counter.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield counter
    finally:
        server.shutdown()
        server.server_close()
        client.close()
