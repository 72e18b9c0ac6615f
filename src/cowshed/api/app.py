"""ASGI app factory: the route table, error handlers and service lifetime."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from cowshed.api import data, discovery, images, imports
from cowshed.api.errors import (
    error_response,
    handle_client_disconnect,
    handle_cowshed_error,
    handle_unexpected,
)
from cowshed.config import Settings
from cowshed.errors import CowshedError
from cowshed.services.app import Services, open_services

log = logging.getLogger(__name__)
_IMG = "/v2/images/{image_id}"


Endpoint = Callable[[Request], Awaitable[Response]]


def _table() -> list[tuple[str, str, Endpoint]]:
    """(method, path, handler) for every operation of the Image API v2."""
    return [
        ("GET", "/", discovery.root),
        ("GET", "/versions", discovery.versions),
        # Glance's version negotiation maps a bare /v2 to the version list, so endpoints
        # registered with a /v2 suffix still pass client version discovery.
        ("GET", "/v2", discovery.root),
        ("GET", "/v2/", discovery.root),
        ("GET", "/v2/schemas/{name}", discovery.schema),
        ("POST", "/v2/images", images.create_image),
        ("GET", "/v2/images", images.list_images),
        ("GET", _IMG, images.show_image),
        ("PATCH", _IMG, images.update_image),
        ("DELETE", _IMG, images.delete_image),
        ("PUT", _IMG + "/file", data.upload),
        ("GET", _IMG + "/file", data.download),
        ("PUT", _IMG + "/stage", imports.stage),
        ("POST", _IMG + "/import", imports.import_image),
        ("GET", _IMG + "/tasks", imports.image_tasks),
        ("POST", _IMG + "/actions/deactivate", images.deactivate),
        ("POST", _IMG + "/actions/reactivate", images.reactivate),
        ("PUT", _IMG + "/tags/{tag}", images.add_tag),
        ("DELETE", _IMG + "/tags/{tag}", images.remove_tag),
        ("GET", _IMG + "/members", images.list_members),
        ("DELETE", "/v2/stores/{store}/{image_id}", images.delete_from_store),
        ("GET", "/v2/info/import", discovery.info_import),
        ("GET", "/v2/info/stores", discovery.info_stores),
        ("GET", "/v2/info/stores/detail", discovery.info_stores_detail),
        ("GET", "/v2/tasks/{task_id}", imports.show_task),
    ]


class _PathEndpoint:
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


def routes() -> list[BaseRoute]:
    """Every path of the Image API v2; a wrong method on a known path answers 405."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, handler in _table():
        by_path.setdefault(path, {})[method] = handler
    return [Route(path, _PathEndpoint(handlers))
            for path, handlers in by_path.items()]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) else "Error"
    if exc.status_code == 404:
        detail = "The resource could not be found."
    elif exc.status_code == 405:
        detail = "The method is not allowed for this resource."
    return error_response(request, exc.status_code, detail, headers)


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """Build the app. Services are opened (and crash recovery run) at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = services is None
        svc = open_services(settings) if services is None else services
        report = svc.recover()
        log.info("started on %s: %s", settings.data_dir, report)
        app.state.services = svc
        try:
            yield
        finally:
            if own:
                svc.close()

    table = routes()
    app = Starlette(
        routes=[*table, Mount("/image", routes=table)],
        lifespan=lifespan,
        exception_handlers={
            CowshedError: handle_cowshed_error,
            HTTPException: _http_error,
            ClientDisconnect: handle_client_disconnect,
            Exception: handle_unexpected,
        },
    )
    return app
