"""Per-request metrics: count, status, bytes in and out and latency, by route template.

Pure ASGI and outermost, so bodies stream through untouched and refusals made by inner layers
(auth, the HTTP version guard) are counted too. The route label is the matched route's template
(``/v2/images/{image_id}``, with its mount prefix), never the raw path, so the number of series
stays bounded; a path no route matches is ``unmatched``.
"""

from __future__ import annotations

import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cowshed import metrics


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        received = sent = 0
        status = "-"

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal sent, status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            route = route_label(scope)
            metrics.REQUESTS.labels(scope["method"], route, status).inc()
            metrics.LATENCY.labels(scope["method"], route).observe(time.monotonic() - started)
            metrics.BYTES_IN.labels(route).inc(received)
            metrics.BYTES_OUT.labels(route).inc(sent)


def route_label(scope: Scope) -> str:
    route = scope.get("route")
    if not isinstance(route, Route):
        return "unmatched"
    return str(scope.get("root_path", "")) + route.path
