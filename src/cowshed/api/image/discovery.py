"""Version documents, schemas and the /v2/info endpoints."""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, services
from cowshed.api.image.schemas import SCHEMAS
from cowshed.errors import NotFound


def _versions(request: Request) -> list[dict[str, object]]:
    base = str(request.base_url).rstrip("/")
    prefix = request.scope.get("root_path", "")
    if request.url.path.startswith("/image"):
        prefix = "/image"
    href = f"{base}{prefix}/v2/"
    current = 17
    minors = list(range(current, -1, -1))
    if not services(request).settings.multistore:
        minors = [m for m in minors if not 8 <= m <= 13]
    return [
        {"id": f"v2.{m}", "status": "CURRENT" if m == current else "SUPPORTED",
         "links": [{"rel": "self", "href": href}]}
        for m in minors
    ]


async def root(request: Request) -> Response:
    return json_response({"versions": _versions(request)}, 300)


async def versions(request: Request) -> Response:
    return json_response({"versions": _versions(request)})


async def schema(request: Request) -> Response:
    try:
        build = SCHEMAS[request.path_params["name"]]
    except KeyError:
        raise NotFound(f"No schema named {request.path_params['name']}") from None
    return json_response(build())


def openapi_text() -> str:
    """The packaged OpenAPI description of the Image API (api/image/openapi.yaml)."""
    return files("cowshed.api.image").joinpath("openapi.yaml").read_text(encoding="utf-8")


async def openapi(request: Request) -> Response:
    return Response(openapi_text(), media_type="application/yaml")


async def info_import(request: Request) -> Response:
    methods = list(services(request).settings.enabled_import_methods)
    return json_response({"import-methods": {
        "description": "Import methods available.", "type": "array", "value": methods}})


def _store_list(request: Request, detail: bool) -> list[dict[str, object]]:
    svc = services(request)
    if not svc.settings.multistore:
        raise NotFound("Multi-store is not enabled on this deployment.")
    out: list[dict[str, object]] = []
    for name in svc.deps.stores.names():
        spec = svc.deps.stores.spec(name)
        entry: dict[str, object] = {"id": name, "description": spec.description or name}
        if name == svc.deps.stores.default_name:
            entry["default"] = "true"
        if detail:
            backend = svc.deps.stores.get(name)
            entry.update({"type": backend.kind, "weight": spec.weight,
                          "properties": dict(backend.describe())})
        out.append(entry)
    return out


async def info_stores(request: Request) -> Response:
    return json_response({"stores": _store_list(request, detail=False)})


async def info_stores_detail(request: Request) -> Response:
    services(request).deps.policy.enforce("stores_info_detail", request_context(request), {})
    return json_response({"stores": _store_list(request, detail=True)})


async def info_usage(request: Request) -> Response:
    """``/v2/info/usage``: the caller's project's limits and usage (sizes in MiB)."""
    ctx = request_context(request)
    quotas = services(request).images.quotas
    limits = await call(quotas.limits, ctx.project_id)
    used = await call(quotas.usage, ctx.project_id)
    return json_response({"usage": {name: {"limit": limit, "usage": used.of(name)}
                                    for name, limit in limits.items()}})
