"""``/v3/volumes``: create, list (+detail, summary), show, update, delete, metadata, lineage."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume import body
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import VolumeRequest, volume_request
from cowshed.api.volume.query import VOLUME_FILTERS, bool_param, list_query, next_links
from cowshed.api.volume.views import volume_detail, volume_summary
from cowshed.domain.volumes import TypeIndex, Volume, VolumePage
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.volumes import VolumeService

VOLUME_SUMMARY = mv.Version(3, 12)
SUMMARY_METADATA = mv.Version(3, 36)
DELETE_FORCE = mv.Version(3, 23)


def volumes(request: Request) -> VolumeService:
    return services(request).volumes


async def type_index(request: Request) -> TypeIndex:
    """Type ids and volume hosts for the volume views (one look at the types per request)."""
    return await call(volumes(request).admin.type_index)


def _image_ref(spec: dict[str, Any]) -> str | None:
    ref = spec.get("imageRef", spec.get("image_id"))
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref:
        raise InvalidRequest(f"Invalid image identifier or unable to access requested image: "
                             f"{ref!r}")
    # Cinder accepts an image URL and keeps its last path segment
    return ref.rstrip("/").rsplit("/", 1)[-1]


def _source(spec: dict[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidRequest(f"Invalid input for field/attribute {key}. Value: {value!r}.")
    return value


async def create(request: Request) -> Response:
    vr = volume_request(request)
    spec = await body.envelope(request, "volume")
    image_id = _image_ref(spec)
    snapshot_id = _source(spec, "snapshot_id")
    source_volid = _source(spec, "source_volid")
    sized = any(x is not None for x in (snapshot_id, source_volid))
    volume_type = spec.get("volume_type")
    if volume_type is not None and not isinstance(volume_type, str):
        raise InvalidRequest(f"Invalid input for field/attribute volume_type. Value: "
                             f"{volume_type!r}.")
    zone = body.text("availability_zone", spec.get("availability_zone"))
    if zone not in (None, "", "nova"):
        raise InvalidRequest(f"Availability zone '{zone}' is invalid.")
    name = body.text("name", spec.get("name", spec.get("display_name")))
    description = body.text("description",
                            spec.get("description", spec.get("display_description")))
    create_fn = functools.partial(
        volumes(request).create, vr.caller,
        size=body.size("size", spec.get("size"), allow_none=sized),
        name=name, description=description, volume_type=volume_type or None,
        metadata=body.metadata("metadata", spec.get("metadata")),
        availability_zone=zone or None, image_id=image_id, snapshot_id=snapshot_id,
        source_volid=source_volid, multiattach=body.boolean("multiattach",
                                                            spec.get("multiattach")),
    )
    volume = await call(create_fn)
    view = volume_detail(vr, volume, await type_index(request), extended=False)
    return json_response({"volume": view}, 202)


async def _page(request: Request) -> tuple[VolumeRequest, VolumePage]:
    vr = volume_request(request)
    query = list_query(vr, request.query_params, VOLUME_FILTERS)
    page = await call(volumes(request).list, vr.caller, query)
    return vr, page


def _list_body(vr: VolumeRequest, request: Request, page: VolumePage, items: list[Any],
               collection: str) -> dict[str, Any]:
    out: dict[str, Any] = {"volumes": items}
    link = next_links(vr, request.query_params, collection, [v.id for v in page.items])
    if link:
        out["volumes_links"] = link
    if page.count is not None:
        out["count"] = page.count
    return out


async def index(request: Request) -> Response:
    vr, page = await _page(request)
    items = [volume_summary(vr, v) for v in page.items]
    return json_response(_list_body(vr, request, page, items, "volumes"))


async def detail(request: Request) -> Response:
    vr, page = await _page(request)
    types = await type_index(request)
    items = [volume_detail(vr, v, types) for v in page.items]
    return json_response(_list_body(vr, request, page, items, "volumes/detail"))


async def summary(request: Request) -> Response:
    vr = volume_request(request)
    if vr.version < VOLUME_SUMMARY:
        raise NotFound("The resource could not be found.")
    query = list_query(vr, request.query_params, VOLUME_FILTERS)
    page = await call(volumes(request).list, vr.caller, dataclasses.replace(query, limit=None))
    out: dict[str, Any] = {"total_size": sum(v.size for v in page.items),
                           "total_count": len(page.items)}
    if vr.version >= SUMMARY_METADATA:
        merged: dict[str, list[str]] = {}
        for v in page.items:
            for key, value in v.metadata.items():
                merged.setdefault(key, [])
                if value not in merged[key]:
                    merged[key].append(value)
        out["metadata"] = merged
    return json_response({"volume-summary": out})


async def _get(request: Request) -> tuple[VolumeRequest, Volume]:
    vr = volume_request(request)
    volume = await call(volumes(request).get, vr.caller, request.path_params["volume_id"])
    return vr, volume


async def show(request: Request) -> Response:
    vr, volume = await _get(request)
    return json_response({"volume": volume_detail(vr, volume, await type_index(request))})


async def update(request: Request) -> Response:
    vr = volume_request(request)
    spec = await body.envelope(request, "volume")
    fields = {"name", "description", "display_name", "display_description", "metadata"}
    if not fields & spec.keys():
        raise InvalidRequest("Invalid input for field/attribute volume: at least one of name, "
                             "description or metadata is required")
    name_key = "name" if "name" in spec else "display_name"
    desc_key = "description" if "description" in spec else "display_description"
    update_fn = functools.partial(
        volumes(request).update, vr.caller, request.path_params["volume_id"],
        name=body.text("name", spec.get(name_key)),
        description=body.text("description", spec.get(desc_key)),
        metadata=body.metadata("metadata", spec.get("metadata")),
    )
    volume = await call(update_fn)
    view = volume_detail(vr, volume, await type_index(request), extended=False)
    return json_response({"volume": view})


async def delete(request: Request) -> Response:
    vr = volume_request(request)
    params = request.query_params
    cascade = bool_param("cascade", params["cascade"]) if "cascade" in params else False
    force = False
    if "force" in params and vr.version >= DELETE_FORCE:
        force = bool_param("force", params["force"])
    delete_fn = functools.partial(volumes(request).delete, vr.caller,
                                  request.path_params["volume_id"], cascade=cascade, force=force)
    await call(delete_fn)
    return Response(status_code=202)


async def lineage(request: Request) -> Response:
    """``GET …/volumes/{id}/lineage``: a cowshed extension (not in Cinder) showing the tree of
    images, volumes, snapshots and clone snapshots the volume belongs to."""
    vr = volume_request(request)
    tree = await call(volumes(request).lineage, vr.caller, request.path_params["volume_id"])
    return json_response({"lineage": tree.as_dict()})
