"""Handlers for stage / import / tasks (filled in with the import service)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cowshed.errors import NotFound


async def stage(request: Request) -> Response:
    raise NotFound("glance-direct is not enabled")


async def import_image(request: Request) -> Response:
    raise NotFound("import is not enabled")


async def image_tasks(request: Request) -> Response:
    raise NotFound("no tasks")


async def show_task(request: Request) -> Response:
    raise NotFound("no tasks")
