"""``/v3/attachments`` (microversion 3.27 and later): the attach flow Nova uses today.

create (reserve, optionally connect), update (give the connector: connection info back),
``os-complete`` (3.44), delete (answers the volume's remaining attachments), list and show.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume import body
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import VolumeRequest, volume_request
from cowshed.api.volume.query import ATTACHMENT_FILTERS, list_query, next_links
from cowshed.api.volume.views import attachment_detail, attachment_summary
from cowshed.domain.volumes import Attachment, AttachMode
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.volumes import VolumeService


def _svc(request: Request) -> VolumeService:
    return services(request).volumes


def _require(request: Request, version: mv.Version = mv.NEW_ATTACH) -> VolumeRequest:
    """Below 3.27 the attachments API does not exist (Cinder: 404)."""
    vr = volume_request(request)
    if vr.version < version:
        raise NotFound("The resource could not be found.")
    return vr


async def _detail(request: Request, vr: VolumeRequest, att: Attachment) -> dict[str, Any]:
    """The attachment with its connection info in Cinder's attachment form: the driver's
    ``data`` keys flattened beside ``driver_volume_type`` and ``attachment_id`` (Cinder's volume
    manager drops the ``data`` level there; Nova puts it back before handing it to os-brick)."""
    info = await call(_svc(request).attachment_connection, vr.caller, att.id)
    flat = None
    if info is not None:
        flat = {**info.data, "driver_volume_type": info.driver_volume_type,
                "attachment_id": att.id}
    return attachment_detail(att, flat)


async def create(request: Request) -> Response:
    vr = _require(request)
    spec = await body.envelope(request, "attachment")
    volume_id = spec.get("volume_uuid")
    if not isinstance(volume_id, str) or not volume_id:
        raise InvalidRequest("Invalid input for field/attribute attachment: 'volume_uuid' is a "
                             "required property")
    connector = spec.get("connector")
    if connector is not None and not isinstance(connector, dict):
        raise InvalidRequest("Invalid input for field/attribute connector.")
    mode = AttachMode.RW
    if vr.version >= mv.ATTACHMENT_MODE and "mode" in spec:
        if spec["mode"] not in ("rw", "ro"):
            raise InvalidRequest("Invalid attachment mode; must be 'rw' or 'ro'")
        mode = AttachMode(spec["mode"])
    att = await call(functools.partial(
        _svc(request).attachment_create, vr.caller, volume_id,
        instance_uuid=body.text("instance_uuid", spec.get("instance_uuid")),
        connector=connector, mode=mode))
    return json_response({"attachment": await _detail(request, vr, att)})


async def update(request: Request) -> Response:
    vr = _require(request)
    spec = await body.envelope(request, "attachment")
    connector = spec.get("connector")
    if not isinstance(connector, dict) or not connector:
        raise InvalidRequest("Invalid input for field/attribute attachment: 'connector' is a "
                             "required property")
    att = await call(_svc(request).attachment_update, vr.caller,
                     request.path_params["attachment_id"], connector)
    return json_response({"attachment": await _detail(request, vr, att)})


async def show(request: Request) -> Response:
    vr = _require(request)
    att = await call(_svc(request).attachment_get, vr.caller,
                     request.path_params["attachment_id"])
    return json_response({"attachment": await _detail(request, vr, att)})


async def delete(request: Request) -> Response:
    vr = _require(request)
    svc = _svc(request)
    att = await call(svc.attachment_get, vr.caller, request.path_params["attachment_id"])
    volume = await call(svc.attachment_delete, vr.caller, att.id)
    left = [attachment_summary(a) for a in volume.attachments if a.id != att.id]
    return json_response({"attachments": left})


async def action(request: Request) -> Response:
    vr = _require(request)
    name, _args = await body.action(request)
    if name != "os-complete" or vr.version < mv.ATTACHMENT_COMPLETE:
        raise InvalidRequest(f"There is no such action: {name}")
    await call(_svc(request).attachment_complete, vr.caller,
               request.path_params["attachment_id"])
    return Response(status_code=204)


async def _list(request: Request, detailed: bool, collection: str) -> Response:
    vr = _require(request)
    query = list_query(vr, request.query_params, ATTACHMENT_FILTERS)
    page = await call(_svc(request).attachment_list, vr.caller, query)
    items = ([await _detail(request, vr, a) for a in page.items] if detailed
             else [attachment_summary(a) for a in page.items])
    out: dict[str, Any] = {"attachments": items}
    link = next_links(vr, request.query_params, collection, [a.id for a in page.items])
    if link:
        out["attachments_links"] = link
    if page.count is not None:
        out["count"] = page.count
    return json_response(out)


async def index(request: Request) -> Response:
    return await _list(request, False, "attachments")


async def detail(request: Request) -> Response:
    return await _list(request, True, "attachments/detail")
