"""Handlers for interoperable import: stage, import, tasks, and the legacy task show."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.image.data import request_body, require_octet_stream, upload_size
from cowshed.api.image.views import task_view


async def stage(request: Request) -> Response:
    require_octet_stream(request)
    svc = services(request)
    await svc.imports.stage(request_context(request), request.path_params["image_id"],
                            request_body(request), upload_size(request))
    return Response(status_code=204)


async def import_image(request: Request) -> Response:
    body = await read_json(request)
    svc = services(request)
    # the legacy way to pick one store (openstacksdk ``store=``, ``glance --store``)
    store = request.headers.get("x-image-meta-store")
    await call(svc.imports.start, request_context(request), request.path_params["image_id"],
               body, store)
    return Response(status_code=202)


async def image_tasks(request: Request) -> Response:
    found = await call(services(request).imports.tasks_for_image, request_context(request),
                       request.path_params["image_id"])
    return json_response({"tasks": [task_view(t) for t in found]})


async def show_task(request: Request) -> Response:
    task = await call(services(request).imports.get_task, request_context(request),
                      request.path_params["task_id"])
    return json_response(task_view(task))
