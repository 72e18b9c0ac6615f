"""Route tables shared by every API: one endpoint per path that dispatches on the method."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
#: (method, path, handler) rows, the form each API declares its operations in.
Table = Sequence[tuple[str, str, Endpoint]]


class PathEndpoint:
    """Every method of one path, so a wrong method gets a 405 whose Allow lists all of them
    (Glance's ``RejectMethodController``), not only the methods of the first matching route."""

    def __init__(self, handlers: dict[str, Endpoint]) -> None:
        self.apps: dict[str, ASGIApp] = {m: request_response(h) for m, h in handlers.items()}
        self.allow = ", ".join(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        app = self.apps.get(method)
        if app is None:
            raise HTTPException(405, headers={"Allow": self.allow})
        if "\x00" in scope["path"]:
            # no id, tag or store name holds a NUL (%00), and PostgreSQL cannot even compare one
            raise HTTPException(404)
        await app(scope, receive, send)


def utf8_path(scope: Scope) -> bool:
    """Whether the request path, percent-decoded, is valid UTF-8. The server decodes an
    invalid sequence (``%FF``) to U+FFFD, so a path parameter that is stored (a tag) must be
    checked here, or it would be stored mangled."""
    raw = scope.get("raw_path")
    if not raw:
        return True
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_routes(table: Table) -> list[BaseRoute]:
    """One Route per path of ``table``; a wrong method on a known path answers 405."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, handler in table:
        by_path.setdefault(path, {})[method] = handler
    return [Route(path, PathEndpoint(handlers)) for path, handlers in by_path.items()]
