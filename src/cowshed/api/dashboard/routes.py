"""Routes of the dashboard: the page, its static assets and two small JSON documents."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, services
from cowshed.services.dashboard import store_usage

STATIC = Path(__file__).with_name("static")
#: the page is a shell; every answer it renders comes from the APIs, so it may be cached.
_NO_SNIFF = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
#: no inline script, no foreign origin: user text that slipped into markup could not run.
_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


async def index(request: Request) -> Response:
    headers = {**_NO_SNIFF, "Content-Security-Policy": _CSP, "Cache-Control": "no-cache"}
    return FileResponse(STATIC / "index.html", headers=headers, media_type="text/html")


async def to_index(request: Request) -> Response:
    return RedirectResponse(str(request.url.replace(path=request.url.path + "/")), 308)


async def config(request: Request) -> Response:
    """What the page needs before its first API call: how to log in and where the APIs are."""
    svc = services(request)
    settings = svc.settings
    strategy = settings.auth_strategy
    body = {
        "auth_strategy": strategy,
        "default_project": settings.default_owner,
        "image_api": "/v2",
        "volume_api": "/volume/v3",
        "identity_api": "/identity/v3" if strategy == "standalone" else None,
        "multistore": settings.multistore,
    }
    return json_response(body, headers={"Cache-Control": "no-store"})


async def stores(request: Request) -> Response:
    svc = services(request)
    usage = await call(store_usage, svc, request_context(request))
    return json_response({"stores": [u.as_dict() for u in usage]},
                         headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    """Everything under /dashboard (``/dashboard`` itself redirects to ``/dashboard/``)."""
    return [
        Route("/dashboard", to_index, methods=["GET", "HEAD"]),
        Mount("/dashboard", routes=[
            Route("/", index, methods=["GET", "HEAD"]),
            Route("/config.json", config, methods=["GET", "HEAD"]),
            Route("/stores.json", stores, methods=["GET", "HEAD"]),
            Mount("/static", app=StaticFiles(directory=STATIC, follow_symlink=False)),
        ]),
    ]
