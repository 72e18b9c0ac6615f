"""Volume transfers: ``/v3/os-volume-transfer`` (every version) and ``/v3/volume-transfers``
(3.55+, with ``no_snapshots``; 3.57 adds ``source_project_id``, ``destination_project_id`` and
``accepted`` to the views), as ``cinder/api/contrib/volume_transfer.py`` and
``cinder/api/v3/volume_transfer.py``."""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume import body
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import VolumeRequest, volume_request
from cowshed.api.volume.query import bool_param
from cowshed.api.volume.views import isotime, links
from cowshed.domain.volumes import VolumeTransfer
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.volumes import VolumeService

NEW_TRANSFER = mv.Version(3, 55)
TRANSFER_PROJECTS = mv.Version(3, 57)
LEGACY, CURRENT = "os-volume-transfer", "volume-transfers"


def _svc(request: Request) -> VolumeService:
    return services(request).volumes


def _collection(request: Request, vr: VolumeRequest) -> str:
    """Which of the two URL forms was asked; the new one does not exist before 3.55."""
    name = LEGACY if f"/{LEGACY}" in request.url.path else CURRENT
    if name == CURRENT and vr.version < NEW_TRANSFER:
        raise NotFound("The resource could not be found.")
    return name


def _summary(vr: VolumeRequest, collection: str, t: VolumeTransfer) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "volume_id": t.volume_id,
            "links": links(vr, collection, t.id)}


def _detail(vr: VolumeRequest, collection: str, t: VolumeTransfer) -> dict[str, Any]:
    view = {**_summary(vr, collection, t), "created_at": isotime(t.created_at)}
    if vr.version >= NEW_TRANSFER:
        view["no_snapshots"] = not t.with_snapshots
    if vr.version >= TRANSFER_PROJECTS:
        # an offer is shown only while it is open: not accepted, no destination yet
        view.update(source_project_id=t.source_project_id, destination_project_id=None,
                    accepted=False)
    return view


async def create(request: Request) -> Response:
    vr = volume_request(request)
    collection = _collection(request, vr)
    spec = await body.envelope(request, "transfer")
    volume_id = spec.get("volume_id")
    if not isinstance(volume_id, str) or not volume_id:
        raise InvalidRequest("Invalid input for field/attribute transfer: 'volume_id' is a "
                             "required property")
    no_snapshots = False
    if vr.version >= NEW_TRANSFER and "no_snapshots" in spec:
        no_snapshots = body.boolean("no_snapshots", spec["no_snapshots"])
    offer = await call(functools.partial(
        _svc(request).transfer_create, vr.caller, volume_id,
        name=body.text("name", spec.get("name")), with_snapshots=not no_snapshots))
    view = {**_detail(vr, collection, offer.transfer), "auth_key": offer.auth_key}
    return json_response({"transfer": view}, 202)


async def _list(request: Request, detail: bool) -> Response:
    vr = volume_request(request)
    collection = _collection(request, vr)
    params = request.query_params
    every = any(bool_param(k, params[k] or "true") for k in ("all_tenants", "all_projects")
                if k in params)
    found = await call(functools.partial(_svc(request).transfer_list, vr.caller,
                                         all_projects=every))
    shape = _detail if detail else _summary
    return json_response({"transfers": [shape(vr, collection, t) for t in found]})


async def index(request: Request) -> Response:
    return await _list(request, detail=False)


async def detail(request: Request) -> Response:
    return await _list(request, detail=True)


async def show(request: Request) -> Response:
    vr = volume_request(request)
    collection = _collection(request, vr)
    found = await call(_svc(request).transfer_get, vr.caller, request.path_params["transfer_id"])
    return json_response({"transfer": _detail(vr, collection, found)})


async def delete(request: Request) -> Response:
    vr = volume_request(request)
    _collection(request, vr)
    await call(_svc(request).transfer_delete, vr.caller, request.path_params["transfer_id"])
    return Response(status_code=202)


async def accept(request: Request) -> Response:
    vr = volume_request(request)
    collection = _collection(request, vr)
    spec = await body.envelope(request, "accept")
    auth_key = spec.get("auth_key")
    if not isinstance(auth_key, str) or not auth_key:
        raise InvalidRequest("Invalid input for field/attribute accept: 'auth_key' is a "
                             "required property")
    done = await call(_svc(request).transfer_accept, vr.caller,
                      request.path_params["transfer_id"], auth_key)
    return json_response({"transfer": _summary(vr, collection, done)}, 202)
