"""``…/{volumes|snapshots}/{id}/metadata[/{key}]``: Cinder's metadata controllers.

POST merges, PUT on the collection replaces everything, PUT on a key sets that one key (the
body must name exactly that key), DELETE removes one key. Every answer is the whole resulting
``metadata`` (or the one ``meta`` item).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.routing import Endpoint
from cowshed.api.volume import body
from cowshed.api.volume.context import volume_request
from cowshed.domain.volumes import Caller
from cowshed.errors import InvalidRequest, NotFound


@dataclass(frozen=True)
class MetadataOps:
    """The service calls for one kind of object (volume or snapshot)."""

    id_param: str
    read: Callable[[Request, Caller, str], Mapping[str, str]]
    write: Callable[[Request, Caller, str, Mapping[str, str], bool], Mapping[str, str]]
    remove: Callable[[Request, Caller, str, str], None]


def _volume_ops() -> MetadataOps:
    return MetadataOps(
        "volume_id",
        lambda r, c, i: services(r).volumes.get(c, i).metadata,
        lambda r, c, i, m, rep: services(r).volumes.set_metadata(c, i, m, replace=rep),
        lambda r, c, i, k: services(r).volumes.delete_metadata_key(c, i, k),
    )


def _snapshot_ops() -> MetadataOps:
    return MetadataOps(
        "snapshot_id",
        lambda r, c, i: services(r).volumes.snapshot_get(c, i).metadata,
        lambda r, c, i, m, rep: services(r).volumes.snapshot_set_metadata(c, i, m, replace=rep),
        lambda r, c, i, k: services(r).volumes.snapshot_delete_metadata_key(c, i, k),
    )


VOLUME = _volume_ops()
SNAPSHOT = _snapshot_ops()


async def _metadata_body(request: Request) -> Mapping[str, str]:
    spec = await read_json(request)
    if not isinstance(spec, dict) or "metadata" not in spec:
        raise InvalidRequest("Missing required element 'metadata' in request body.")
    value = body.metadata("metadata", spec["metadata"])
    return value or {}


def handlers(ops: MetadataOps) -> dict[str, Endpoint]:
    """The six metadata handlers for ``ops``, by name."""

    async def index(request: Request) -> Response:
        vr = volume_request(request)
        meta = await call(ops.read, request, vr.caller, request.path_params[ops.id_param])
        return json_response({"metadata": dict(meta)})

    async def _write(request: Request, replace: bool) -> Response:
        vr = volume_request(request)
        meta = await _metadata_body(request)
        result = await call(functools.partial(
            ops.write, request, vr.caller, request.path_params[ops.id_param], meta, replace))
        return json_response({"metadata": dict(result)})

    async def create(request: Request) -> Response:
        return await _write(request, False)

    async def update_all(request: Request) -> Response:
        return await _write(request, True)

    async def show(request: Request) -> Response:
        vr = volume_request(request)
        meta = await call(ops.read, request, vr.caller, request.path_params[ops.id_param])
        key = request.path_params["key"]
        if key not in meta:
            raise NotFound("Metadata item was not found")
        return json_response({"meta": {key: meta[key]}})

    async def update_one(request: Request) -> Response:
        vr = volume_request(request)
        spec = await read_json(request)
        key = request.path_params["key"]
        if not isinstance(spec, dict) or not isinstance(spec.get("meta"), dict):
            raise InvalidRequest("Missing required element 'meta' in request body.")
        item = body.metadata("meta", spec["meta"]) or {}
        if len(item) > 1:
            raise InvalidRequest("Request body contains too many items")
        if key not in item:
            raise InvalidRequest("Request body and URI mismatch")
        await call(functools.partial(
            ops.write, request, vr.caller, request.path_params[ops.id_param], item, False))
        return json_response({"meta": dict(item)})

    async def delete(request: Request) -> Response:
        vr = volume_request(request)
        await call(ops.remove, request, vr.caller, request.path_params[ops.id_param],
                   request.path_params["key"])
        return Response(status_code=200)

    return {"index": index, "create": create, "update_all": update_all, "show": show,
            "update_one": update_one, "delete": delete}
