"""Handlers for image records: create, list, show, PATCH, delete, tags, actions."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.image.patch import media_type, parse_patch
from cowshed.api.image.query import parse_list_query
from cowshed.api.image.views import image_view
from cowshed.api.routing import utf8_path
from cowshed.errors import InvalidRequest, NotFound


def _view(request: Request, image: object) -> dict[str, object]:
    svc = services(request)
    return image_view(image, svc.settings, svc.deps.stores)  # type: ignore[arg-type]


async def create_image(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.")
    svc = services(request)
    image = await call(svc.images.create, request_context(request), body)
    headers = {
        "Location": f"/v2/images/{image.id}",
        "OpenStack-image-import-methods": ",".join(svc.settings.enabled_import_methods),
    }
    if svc.settings.multistore:
        headers["OpenStack-image-store-ids"] = ",".join(svc.deps.stores.names())
    return json_response(_view(request, image), 201, headers)


async def list_images(request: Request) -> Response:
    svc = services(request)
    query = parse_list_query(request.query_params, svc.settings)
    try:
        found = await call(svc.images.list_images, request_context(request), query)
    except NotFound as exc:
        raise InvalidRequest(exc.message) from exc
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, object] = {
        "images": [_view(request, image) for image in found],
        "first": "/v2/images" + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/images",
    }
    if found and len(found) == query.limit:
        body["next"] = "/v2/images?" + urlencode([*params, ("marker", found[-1].id)])
    return json_response(body)


async def show_image(request: Request) -> Response:
    image = await call(services(request).images.get, request_context(request),
                       request.path_params["image_id"])
    return json_response(_view(request, image))


async def update_image(request: Request) -> Response:
    legacy = media_type(request.headers.get("content-type", ""))
    # validation of a large patch document runs off the event loop too
    ops = await call(parse_patch, await read_json(request, require_json_type=False), legacy)
    image = await call(services(request).images.update, request_context(request),
                       request.path_params["image_id"], ops)
    return json_response(_view(request, image))


async def delete_image(request: Request) -> Response:
    await call(services(request).images.delete, request_context(request),
               request.path_params["image_id"])
    return Response(status_code=204)


def _tag(request: Request) -> str:
    if not utf8_path(request.scope):
        raise InvalidRequest("The tag is not valid UTF-8.")
    tag: str = request.path_params["tag"]
    return tag


async def add_tag(request: Request) -> Response:
    tag = _tag(request)
    await call(services(request).images.add_tag, request_context(request),
               request.path_params["image_id"], tag)
    return Response(status_code=204)


async def remove_tag(request: Request) -> Response:
    tag = _tag(request)
    await call(services(request).images.remove_tag, request_context(request),
               request.path_params["image_id"], tag)
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    await call(services(request).images.deactivate, request_context(request),
               request.path_params["image_id"])
    return Response(status_code=204)


async def reactivate(request: Request) -> Response:
    await call(services(request).images.reactivate, request_context(request),
               request.path_params["image_id"])
    return Response(status_code=204)


async def delete_from_store(request: Request) -> Response:
    svc = services(request)
    if not svc.settings.multistore:
        raise NotFound("Multi-store is not enabled on this deployment.")
    p = request.path_params
    await call(svc.images.delete_from_store, request_context(request), p["image_id"], p["store"])
    return Response(status_code=204)
