"""ASGI app factory: the route table, error handlers and service lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router

from cowshed.api import health
from cowshed.api.access_log import AccessLogMiddleware
from cowshed.api.auth import AuthMiddleware
from cowshed.api.dashboard.routes import routes as dashboard_routes
from cowshed.api.errors import (
    error_response,
    handle_client_disconnect,
    handle_cowshed_error,
    handle_unexpected,
)
from cowshed.api.http_protocols import HeadSizeGuard
from cowshed.api.identity.app import identity_app
from cowshed.api.identity.tokens import root as identity_root
from cowshed.api.image import discovery
from cowshed.api.image.routes import routes as image_routes
from cowshed.api.observe import ObserveMiddleware
from cowshed.api.protocol import HttpVersionGuard
from cowshed.api.streams import quiet_aborted_streams
from cowshed.api.volume.app import VolumeApp
from cowshed.config import Settings
from cowshed.errors import CowshedError
from cowshed.services.app import Services, open_services

log = logging.getLogger(__name__)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) else "Error"
    if exc.status_code == 404:
        detail = "The resource could not be found."
    elif exc.status_code == 405:
        detail = "The method is not allowed for this resource."
    return error_response(request, exc.status_code, detail, headers)


def create_app(settings: Settings, services: Services | None = None, *,
               recover: bool = True, listen_url: str = "http://127.0.0.1:9292") -> Starlette:
    """Build the app. Services are opened (unless given) at start-up, and crash recovery runs
    unless ``recover`` is false (``cowshed serve`` recovers itself, once it holds the data-dir
    lock and its port). ``listen_url`` is where this server listens, for the ``openrc`` the
    standalone bootstrap writes when ``public_endpoint`` is not set."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = services is None
        svc = open_services(settings) if services is None else services
        if recover:
            report = svc.recover()
            log.info("started on %s: %s", settings.data_dir, report)
        app.state.services = svc
        # every hop off the loop (call, asyncio.to_thread, drive) uses the services' pool
        asyncio.get_running_loop().set_default_executor(svc.deps.pools.blocking)
        if identity is not None:
            identity.state.services = svc
            svc.bootstrap_identity(settings.public_endpoint.rstrip("/") + "/identity"
                                   if settings.public_endpoint else listen_url + "/identity")
        svc.maintenance.start()
        try:
            yield
        finally:
            if own:
                svc.close()

    quiet_aborted_streams()
    images = image_routes()
    # outermost, so refusals made by inner layers are logged too
    access = [Middleware(AccessLogMiddleware)] if settings.access_log else []
    # the standalone identity answers under /identity on the same port (docs/identity.md)
    identity = identity_app() if settings.auth_strategy == "standalone" else None
    mounts: list[BaseRoute] = []
    if identity is not None:
        mounts = [Route("/identity", identity_root), Mount("/identity", app=identity)]
    app = Starlette(
        # each API is mounted under its catalog prefix; the image API also answers at the root,
        # as Glance does, so it comes last; the volume API renders its own (Cinder) errors.
        # Glance's routes never redirect: /v2/images/ and /v2/images//file are 404, not the
        # list (Starlette would redirect a trailing slash), so neither router does.
        routes=[Route("/healthcheck", health.healthcheck, methods=["GET"]),
                Route("/metrics", health.prometheus, methods=["GET"]),
                *mounts, Route("/image", discovery.root),
                Mount("/image", app=Router(images, redirect_slashes=False)),
                Mount("/volume", app=VolumeApp()), *dashboard_routes(), *images],
        lifespan=lifespan,
        # one context per request, for every API (docs/identity.md)
        middleware=[Middleware(ObserveMiddleware), Middleware(HeadSizeGuard),
                    Middleware(HttpVersionGuard), *access, Middleware(AuthMiddleware)],
        exception_handlers={
            CowshedError: handle_cowshed_error,
            HTTPException: _http_error,
            ClientDisconnect: handle_client_disconnect,
            Exception: handle_unexpected,
        },
    )
    app.router.redirect_slashes = False
    return app
