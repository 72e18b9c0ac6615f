"""The locations API (2.17): register data a service placed in a store; list an image's copies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, read_json, services


async def add_location(request: Request) -> Response:
    """202, as Glance answers: the data is read back and checked by a ``location_import``
    task (``GET /v2/images/{id}/tasks``) before the image turns active."""
    await call(services(request).locations.add, request_context(request),
               request.path_params["image_id"], await read_json(request))
    return Response(status_code=202)


async def list_locations(request: Request) -> Response:
    found = await call(services(request).locations.list, request_context(request),
                       request.path_params["image_id"])
    return json_response([{"url": loc.url, "metadata": {"store": loc.store}} for loc in found])
