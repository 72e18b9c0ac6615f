"""Wire-level guards that run before any route: requests the HTTP layer let through but that
no API operation may answer."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from cowshed.api.errors import error_response

#: ``scope["http_version"]`` values served. uvicorn reports a request line without a version
#: (HTTP/0.9, "GET /path") as "0.9"; such a client cannot read headers, status or length, so
#: answering it 200 would hand it a body it cannot delimit.
SERVED_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})


class HttpVersionGuard:
    """Answer 400 to an HTTP version we do not speak (HTTP/0.9 above all). Not 505: the
    request is malformed for this server, not a server failure, and no 5xx may come from what a
    client sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("http_version", "1.1") not in SERVED_VERSIONS:
            version = scope.get("http_version")
            response = error_response(None, 400, f"HTTP version {version} is not supported; "
                                      "use HTTP/1.1.", {"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
