"""A hostile web-download source: an HTTP server (thread) with routes that misbehave on purpose.

Routes (``GET``):

* ``/ok/N`` — N bytes of data, with Content-Length;
* ``/redirect?to=URL`` — 302 to URL, taken verbatim;
* ``/encoded/CODING/N`` — N zero bytes compressed with gzip, deflate or zlib, sent with
  ``Content-Encoding: CODING`` (``br`` sends arbitrary bytes under that label);
* ``/labelled/N?ce=VALUE`` — N plain bytes sent with ``Content-Encoding: VALUE``;
* ``/te-gzip/N`` — ``Transfer-Encoding: gzip, chunked``;
* ``/trickle/N?every=S`` — announces N bytes, sends one byte every S seconds;
* ``/slow-headers?every=S`` — the status line and headers one byte every S seconds;
* ``/stall`` — headers, then silence.

Every request path is recorded, so a test can prove a server was never contacted.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import socket
import threading
import time
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit


@functools.cache
def _compress(coding: str, size: int) -> bytes:
    raw = bytes(size)
    if coding == "gzip":
        return gzip.compress(raw, 9)
    if coding == "deflate":
        return zlib.compress(raw, 9)
    if coding == "raw-deflate":
        obj = zlib.compressobj(9, zlib.DEFLATED, -15)
        return obj.compress(raw) + obj.flush()
    return b"\x8b\x00\x80" + bytes(61)  # "br" and others: bytes under that label


class _Handler(http.server.BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.requests.append(parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route, _, arg = parts.path.lstrip("/").partition("/")
        every = float(query.get("every", "0.2"))
        # the client giving up on us is the point of most routes
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, "_" + route.replace("-", "_"))(arg, query, every)

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _ok(self, arg: str, query: dict[str, str], every: float) -> None:
        body = b"x" * int(arg)
        self._send(200, {"Content-Length": str(len(body))}, body)

    def _redirect(self, arg: str, query: dict[str, str], every: float) -> None:
        # raw UTF-8 bytes, as a hostile server may send them (send_header would refuse)
        self.send_response(302)
        self.send_header("Content-Length", "0")
        self._headers_buffer.append(b"Location: " + query["to"].encode() + b"\r\n")
        self.end_headers()

    def _encoded(self, arg: str, query: dict[str, str], every: float) -> None:
        coding, _, size = arg.partition("/")
        body = _compress(coding, int(size))
        label = "deflate" if coding == "raw-deflate" else coding
        self._send(200, {"Content-Encoding": label, "Content-Length": str(len(body))}, body)

    def _labelled(self, arg: str, query: dict[str, str], every: float) -> None:
        body = b"x" * int(arg)
        self._send(200, {"Content-Encoding": query["ce"], "Content-Length": str(len(body))}, body)

    def _te_gzip(self, arg: str, query: dict[str, str], every: float) -> None:
        body = gzip.compress(bytes(int(arg)))
        chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        self._send(200, {"Transfer-Encoding": "gzip, chunked"}, chunk)

    def _trickle(self, arg: str, query: dict[str, str], every: float) -> None:
        self._send(200, {"Content-Length": arg})
        for _ in range(int(arg)):
            self.wfile.write(b"x")
            self.wfile.flush()
            if self.server.stop.wait(every):
                return

    def _slow_headers(self, arg: str, query: dict[str, str], every: float) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Padding: " + b"p" * 400 + b"\r\n\r\nx"
        for i in range(len(head)):
            self.wfile.write(head[i : i + 1])
            self.wfile.flush()
            if self.server.stop.wait(every):
                return

    def _stall(self, arg: str, query: dict[str, str], every: float) -> None:
        self._send(200, {"Content-Length": "1000"}, b"x")
        self.wfile.flush()
        self.server.stop.wait(60)


class HostileServer(http.server.ThreadingHTTPServer):
    """Serves the routes above on ``host`` (``"::"``: dual-stack, IPv4 and IPv6)."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.dual_stack = host == "::"
        self.requests: list[str] = []
        self.stop = threading.Event()
        super().__init__((host, port), _Handler)
        self.port: int = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY,
                                   0 if self.dual_stack else 1)
        super().server_bind()

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)
        time.sleep(0)
