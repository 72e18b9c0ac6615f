"""Limits, quota sets, availability zones and extensions: the read-only resources clients look
at before they create anything (types are in ``types.py``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume.context import volume_request
from cowshed.api.volume.query import bool_param
from cowshed.domain.volumes import QuotaSet


async def limits(request: Request) -> Response:
    vr = volume_request(request)
    absolute = await call(services(request).volumes.limits, vr.caller)
    return json_response({"limits": {"rate": [], "absolute": dict(absolute)}})


def _quota_view(quotas: QuotaSet, usage: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"id": quotas.project_id}
    for key, limit in quotas.limits.items():
        if usage:
            view[key] = {"limit": limit, "in_use": quotas.in_use.get(key, 0), "reserved": 0,
                         "allocated": 0}
        else:
            view[key] = limit
    return view


async def show_quotas(request: Request) -> Response:
    vr = volume_request(request)
    params = request.query_params
    usage = bool_param("usage", params["usage"]) if "usage" in params else False
    quotas = await call(lambda: services(request).volumes.quotas(
        vr.caller, request.path_params["project"], usage=usage))
    return json_response({"quota_set": _quota_view(quotas, usage)})


async def default_quotas(request: Request) -> Response:
    vr = volume_request(request)
    quotas = await call(services(request).volumes.default_quotas, vr.caller)
    view = _quota_view(quotas, False)
    view["id"] = request.path_params["project"]
    return json_response({"quota_set": view})


async def availability_zones(request: Request) -> Response:
    return json_response({"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}}]})


_EXTENSIONS = (
    ("AdminActions", "os-admin-actions", "Enable admin actions."),
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes",
     "Extended SnapshotAttributes support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "Show image metadata associated with the "
                                                  "volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as an "
                                                           "attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as an "
                                                    "attribute of a volume."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
)


async def extensions(request: Request) -> Response:
    return json_response({"extensions": [
        {"name": name, "alias": alias, "description": text, "links": [],
         "updated": "2013-04-18T00:00:00+00:00"}
        for name, alias, text in _EXTENSIONS
    ]})
