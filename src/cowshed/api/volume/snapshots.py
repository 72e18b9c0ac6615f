"""``/v3/snapshots``: create, list (+detail), show, update, delete, and the snapshot actions."""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume import body
from cowshed.api.volume.context import VolumeRequest, volume_request
from cowshed.api.volume.query import SNAPSHOT_FILTERS, list_query, next_links
from cowshed.api.volume.views import snapshot_view
from cowshed.domain.volumes import SnapshotPage, SnapshotStatus
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.volumes import VolumeService


def _svc(request: Request) -> VolumeService:
    return services(request).volumes


async def create(request: Request) -> Response:
    vr = volume_request(request)
    spec = await body.envelope(request, "snapshot")
    volume_id = spec.get("volume_id")
    if "volume_id" in spec and volume_id is None:
        # Cinder's schema lets a null through, and the volume lookup then finds nothing
        raise NotFound("Volume None could not be found.")
    if not isinstance(volume_id, str) or not volume_id:
        raise InvalidRequest("Invalid input for field/attribute snapshot: 'volume_id' is a "
                             "required property")
    force = spec.get("force", False)
    if not isinstance(force, bool | str) or (
            isinstance(force, str) and force.lower() not in ("true", "false", "1", "0")):
        raise InvalidRequest(f"Invalid value '{force}' for force.")
    snap = await call(functools.partial(
        _svc(request).snapshot_create, vr.caller, volume_id,
        name=body.text("name", spec.get("name", spec.get("display_name"))),
        description=body.text("description",
                              spec.get("description", spec.get("display_description"))),
        metadata=body.metadata("metadata", spec.get("metadata")),
        force=body.boolean("force", force)))
    return json_response({"snapshot": snapshot_view(vr, snap, extended=False)}, 202)


async def _page(request: Request) -> tuple[VolumeRequest, SnapshotPage]:
    vr = volume_request(request)
    query = list_query(vr, request.query_params, SNAPSHOT_FILTERS)
    return vr, await call(_svc(request).snapshot_list, vr.caller, query)


def _list_body(vr: VolumeRequest, request: Request, page: SnapshotPage, collection: str,
               summary: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"snapshots": [snapshot_view(vr, s, summary=summary)
                                         for s in page.items]}
    link = next_links(vr, request.query_params, collection, [s.id for s in page.items])
    if link:
        out["snapshots_links"] = link
    if page.count is not None:
        out["count"] = page.count
    return out


async def index(request: Request) -> Response:
    vr, page = await _page(request)
    return json_response(_list_body(vr, request, page, "snapshots", summary=True))


async def detail(request: Request) -> Response:
    vr, page = await _page(request)
    return json_response(_list_body(vr, request, page, "snapshots/detail", summary=False))


async def show(request: Request) -> Response:
    vr = volume_request(request)
    snap = await call(_svc(request).snapshot_get, vr.caller, request.path_params["snapshot_id"])
    return json_response({"snapshot": snapshot_view(vr, snap)})


async def update(request: Request) -> Response:
    vr = volume_request(request)
    spec = await body.envelope(request, "snapshot")
    if not {"name", "description", "display_name", "display_description"} & spec.keys():
        raise InvalidRequest("Invalid input for field/attribute snapshot: at least one of "
                             "name or description is required")
    snap = await call(functools.partial(
        _svc(request).snapshot_update, vr.caller, request.path_params["snapshot_id"],
        name=body.text("name", spec.get("name", spec.get("display_name"))),
        description=body.text("description",
                              spec.get("description", spec.get("display_description")))))
    return json_response({"snapshot": snapshot_view(vr, snap, extended=False)})


async def delete(request: Request) -> Response:
    vr = volume_request(request)
    await call(_svc(request).snapshot_delete, vr.caller, request.path_params["snapshot_id"])
    return Response(status_code=202)


async def snapshot_action(request: Request) -> Response:
    """``os-reset_status``, ``os-update_snapshot_status`` and ``os-force_delete`` on a
    snapshot."""
    vr = volume_request(request)
    name, args = await body.action(request)
    sid = request.path_params["snapshot_id"]
    args = args or {}
    if not isinstance(args, dict):
        raise InvalidRequest(f"Invalid input for field/attribute {name}.")
    if name == "os-reset_status":
        try:
            status = SnapshotStatus(str(args.get("status")))
        except ValueError:
            raise InvalidRequest("Must specify a valid status") from None
        await call(_svc(request).snapshot_reset_status, vr.caller, sid, status)
    elif name == "os-update_snapshot_status":
        try:
            status = SnapshotStatus(str(args.get("status")))
        except ValueError:
            raise InvalidRequest("'status' must be specified.") from None
        progress = body.text("progress", args.get("progress"))
        await call(_svc(request).snapshot_update_status, vr.caller, sid, status, progress)
    elif name == "os-force_delete":
        await call(functools.partial(_svc(request).snapshot_delete, vr.caller, sid, force=True))
    else:
        raise InvalidRequest(f"There is no such action: {name}")
    return Response(status_code=202)
