"""Limits, availability zones and extensions: the read-only resources clients look at before
they create anything (types are in ``types.py``, quotas in ``quotas.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume.context import volume_request


async def limits(request: Request) -> Response:
    vr = volume_request(request)
    absolute = await call(services(request).volumes.limits, vr.caller)
    return json_response({"limits": {"rate": [], "absolute": dict(absolute)}})


async def availability_zones(request: Request) -> Response:
    return json_response({"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}}]})


_EXTENSIONS = (
    ("AdminActions", "os-admin-actions", "Enable admin actions."),
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("Capabilities", "capabilities", "Capabilities support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("Scheduler_stats", "scheduler-stats", "Scheduler stats support."),
    ("Services", "os-services", "Services support."),
    ("TypesExtraSpecs", "os-types-extra-specs", "Type extra specs support."),
    ("TypesManage", "os-types-manage", "Types manage support."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes",
     "Extended SnapshotAttributes support."),
    ("Qos_specs_manage", "qos-specs", "QoS specs support."),
    ("QuotaClasses", "os-quota-class-sets", "Quota classes management support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "Show image metadata associated with the "
                                                  "volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as an "
                                                           "attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as an "
                                                    "attribute of a volume."),
    ("VolumeTransfer", "os-volume-transfer", "Volume transfer management support."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
)


async def extensions(request: Request) -> Response:
    return json_response({"extensions": [
        {"name": name, "alias": alias, "description": text, "links": [],
         "updated": "2013-04-18T00:00:00+00:00"}
        for name, alias, text in _EXTENSIONS
    ]})
