"""Handlers for ``/v2/metadefs``: namespaces, resource types, and the items namespaces hold."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.metadefs.schemas import METADEF_SCHEMAS
from cowshed.api.metadefs.views import (
    NS_PATH,
    association_view,
    namespace_view,
    object_view,
    properties_view,
    property_view,
    resource_type_view,
    tag_view,
)
from cowshed.api.routing import Endpoint
from cowshed.domain.metadefs import NAMESPACE_SORT_KEYS, Item, ItemKind, NamespaceQuery, Visibility
from cowshed.errors import InvalidRequest, NotFound

#: Glance's limit_param_default and api_limit_max.
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


async def schema(request: Request) -> Response:
    build = METADEF_SCHEMAS.get(request.path_params["name"])
    if build is None:
        raise NotFound(f"No schema named metadefs/{request.path_params['name']}")
    return json_response(build())


async def list_resource_types(request: Request) -> Response:
    found = await call(services(request).metadefs.resource_types, request_context(request))
    return json_response({"resource_types": [resource_type_view(rt) for rt in found]})


def parse_namespace_query(params: QueryParams) -> NamespaceQuery:
    """Glance's checks: 400 for a bad limit, sort key, sort direction or visibility."""
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise InvalidRequest("limit param must be an integer") from None
    if limit < 0:
        raise InvalidRequest("limit param must be positive")
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in NAMESPACE_SORT_KEYS:
        raise InvalidRequest(f"Invalid sort key: {sort_key}. It must be one of the "
                             f"following: {', '.join(NAMESPACE_SORT_KEYS)}.")
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid sort direction: {sort_dir}")
    visibility = params.get("visibility")
    if visibility is not None and visibility not in {v.value for v in Visibility}:
        raise InvalidRequest(f"Invalid visibility value: {visibility}")
    kinds = tuple(t.strip() for t in params.get("resource_types", "").split(",") if t.strip())
    return NamespaceQuery(
        visibility=Visibility(visibility) if visibility else None, resource_types=kinds,
        sort_key=sort_key, ascending=sort_dir == "asc", limit=min(limit, MAX_LIMIT),
        marker=params.get("marker"))


async def list_namespaces(request: Request) -> Response:
    query = parse_namespace_query(request.query_params)
    found = await call(services(request).metadefs.list_namespaces, request_context(request),
                       query)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, object] = {
        "namespaces": [namespace_view(d, full=False) for d in found],
        "first": NS_PATH + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if found and len(found) == query.limit:
        body["next"] = f"{NS_PATH}?" + urlencode([*params, ("marker",
                                                            found[-1].namespace.namespace)])
    return json_response(body)


async def create_namespace(request: Request) -> Response:
    detail = await call(services(request).metadefs.create_namespace, request_context(request),
                        await read_json(request))
    return json_response(namespace_view(detail), 201)


async def show_namespace(request: Request) -> Response:
    detail = await call(services(request).metadefs.get_namespace, request_context(request),
                        request.path_params["namespace"],
                        request.query_params.get("resource_type"))
    return json_response(namespace_view(detail))


async def update_namespace(request: Request) -> Response:
    detail = await call(services(request).metadefs.update_namespace, request_context(request),
                        request.path_params["namespace"], await read_json(request))
    return json_response(namespace_view(detail))


async def delete_namespace(request: Request) -> Response:
    await call(services(request).metadefs.delete_namespace, request_context(request),
               request.path_params["namespace"])
    return Response(status_code=204)


async def list_associations(request: Request) -> Response:
    found = await call(services(request).metadefs.associations, request_context(request),
                       request.path_params["namespace"])
    return json_response({"resource_type_associations": [association_view(a) for a in found]})


async def create_association(request: Request) -> Response:
    assoc = await call(services(request).metadefs.add_association, request_context(request),
                       request.path_params["namespace"], await read_json(request))
    return json_response(association_view(assoc), 201)


async def delete_association(request: Request) -> Response:
    p = request.path_params
    await call(services(request).metadefs.remove_association, request_context(request),
               p["namespace"], p["resource_type"])
    return Response(status_code=204)


def _item_view(namespace: str, item: Item) -> dict[str, object]:
    if item.kind == ItemKind.OBJECT:
        return object_view(namespace, item)
    if item.kind == ItemKind.PROPERTY:
        return property_view(item)
    return tag_view(item)


def list_items(kind: ItemKind) -> Endpoint:
    async def handler(request: Request) -> Response:
        ns = request.path_params["namespace"]
        found = await call(services(request).metadefs.items, request_context(request), ns, kind)
        if kind == ItemKind.PROPERTY:
            return json_response({"properties": properties_view(found)})
        if kind == ItemKind.OBJECT:
            return json_response({"objects": [object_view(ns, o) for o in found],
                                  "schema": "/v2/schemas/metadefs/objects"})
        return json_response({"tags": [tag_view(t) for t in found]})
    return handler


def create_item(kind: ItemKind) -> Endpoint:
    async def handler(request: Request) -> Response:
        ns = request.path_params["namespace"]
        item = await call(services(request).metadefs.create_item, request_context(request), ns,
                          kind, await read_json(request))
        return json_response(_item_view(ns, item), 201)
    return handler


def delete_items(kind: ItemKind) -> Endpoint:
    async def handler(request: Request) -> Response:
        await call(services(request).metadefs.delete_all, request_context(request),
                   request.path_params["namespace"], kind)
        return Response(status_code=204)
    return handler


def show_item(kind: ItemKind) -> Endpoint:
    async def handler(request: Request) -> Response:
        p = request.path_params
        item = await call(services(request).metadefs.get_item, request_context(request),
                          p["namespace"], kind, p["name"],
                          request.query_params.get("resource_type"))
        return json_response(_item_view(p["namespace"], item))
    return handler


def update_item(kind: ItemKind) -> Endpoint:
    async def handler(request: Request) -> Response:
        p = request.path_params
        item = await call(services(request).metadefs.update_item, request_context(request),
                          p["namespace"], kind, p["name"], await read_json(request))
        return json_response(_item_view(p["namespace"], item))
    return handler


def delete_item(kind: ItemKind) -> Endpoint:
    async def handler(request: Request) -> Response:
        p = request.path_params
        await call(services(request).metadefs.delete_item, request_context(request),
                   p["namespace"], kind, p["name"])
        return Response(status_code=204)
    return handler


async def create_tags(request: Request) -> Response:
    """Batch create: replaces the tags unless ``X-Openstack-Append: true``."""
    append = request.headers.get("x-openstack-append", "false").strip().lower() == "true"
    found = await call(services(request).metadefs.create_tags, request_context(request),
                       request.path_params["namespace"], await read_json(request), append)
    return json_response({"tags": [tag_view(t) for t in found]}, 201)


async def create_tag(request: Request) -> Response:
    p = request.path_params
    tag = await call(services(request).metadefs.create_tag, request_context(request),
                     p["namespace"], p["name"])
    return json_response(tag_view(tag), 201)
