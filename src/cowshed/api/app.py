"""ASGI app factory: the route table, error handlers and service lifetime."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from cowshed.api import data, discovery, images, imports
from cowshed.api.errors import error_response, handle_cowshed_error, handle_unexpected
from cowshed.config import Settings
from cowshed.errors import CowshedError
from cowshed.services.app import Services, open_services

log = logging.getLogger(__name__)
_IMG = "/v2/images/{image_id}"


def routes() -> list[BaseRoute]:
    """Every path of the Image API v2; a wrong method on a known path answers 405."""
    return [
        Route("/", discovery.root, methods=["GET"]),
        Route("/versions", discovery.versions, methods=["GET"]),
        Route("/v2/schemas/{name}", discovery.schema, methods=["GET"]),
        Route("/v2/images", images.create_image, methods=["POST"]),
        Route("/v2/images", images.list_images, methods=["GET"]),
        Route(_IMG, images.show_image, methods=["GET"]),
        Route(_IMG, images.update_image, methods=["PATCH"]),
        Route(_IMG, images.delete_image, methods=["DELETE"]),
        Route(_IMG + "/file", data.upload, methods=["PUT"]),
        Route(_IMG + "/file", data.download, methods=["GET"]),
        Route(_IMG + "/stage", imports.stage, methods=["PUT"]),
        Route(_IMG + "/import", imports.import_image, methods=["POST"]),
        Route(_IMG + "/tasks", imports.image_tasks, methods=["GET"]),
        Route(_IMG + "/actions/deactivate", images.deactivate, methods=["POST"]),
        Route(_IMG + "/actions/reactivate", images.reactivate, methods=["POST"]),
        Route(_IMG + "/tags/{tag}", images.add_tag, methods=["PUT"]),
        Route(_IMG + "/tags/{tag}", images.remove_tag, methods=["DELETE"]),
        Route(_IMG + "/members", images.list_members, methods=["GET"]),
        Route("/v2/stores/{store}/{image_id}", images.delete_from_store, methods=["DELETE"]),
        Route("/v2/info/import", discovery.info_import, methods=["GET"]),
        Route("/v2/info/stores", discovery.info_stores, methods=["GET"]),
        Route("/v2/info/stores/detail", discovery.info_stores_detail, methods=["GET"]),
        Route("/v2/tasks/{task_id}", imports.show_task, methods=["GET"]),
    ]


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
            Exception: handle_unexpected,
        },
    )
    return app
