"""One log line per HTTP request (logger ``cowshed.access``), off with ``access_log = false``.

    127.0.0.1 "PUT /v2/images/0b5d…/file" 204 in=10485760 out=0 2.315s req-4a0c…

Fields: client address, method and path (no query string: it may hold filters people consider
private, and a path is enough to find the request), status, body bytes received and sent,
seconds from the first byte of the request to the last byte of the answer, and the request id
the client saw in ``x-openstack-request-id`` — so a user's report can be matched to its line.
A request the client abandoned is logged with status ``-`` when no answer was started.

Pure ASGI (no BaseHTTPMiddleware), outermost: bodies stream through untouched, and refusals
made by inner layers (401s, 413s) are logged too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cowshed.access")


@dataclass
class _Exchange:
    status: int | None = None
    received: int = 0
    sent: int = 0
    request_id: str = "-"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        seen = _Exchange()

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen.received += len(message.get("body", b""))
            return message

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"x-openstack-request-id":
                        seen.request_id = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                seen.sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        finally:
            _write(scope, seen, time.monotonic() - started)


def _write(scope: Scope, seen: _Exchange, seconds: float) -> None:
    client = scope.get("client")
    host = client[0] if client else "-"
    status = "-" if seen.status is None else str(seen.status)
    log.info('%s "%s %s" %s in=%d out=%d %.3fs %s', host, scope["method"],
             scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"],
             status, seen.received, seen.sent, seconds, seen.request_id)
