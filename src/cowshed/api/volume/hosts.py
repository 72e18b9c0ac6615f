"""Admin views of where volumes live: ``os-services``, ``os-hosts``,
``scheduler-stats/get_pools`` and ``capabilities/{host}`` (``cinder/api/contrib/services.py``,
``hosts.py``, ``scheduler_stats.py``, ``capabilities.py``).

Cinder's services are one process here (see ``services/volumes/admin.py``), always up while the
API answers; they cannot be disabled, frozen or failed over (400), but unknown hosts and
binaries get Cinder's 404 first.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import volume_request
from cowshed.api.volume.query import bool_param
from cowshed.api.volume.views import isotime
from cowshed.domain.volumes import HostUsage, VolumeHost
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.volumes.admin import VOLUME, VolumeAdmin, host_matches

SERVICE_CLUSTER = mv.Version(3, 7)
BACKEND_STATE = mv.Version(3, 49)
_ACTIONS = frozenset({"enable", "disable", "disable-log-reason", "freeze", "thaw",
                      "failover_host", "failover"})


def _admin(request: Request) -> VolumeAdmin:
    admin: VolumeAdmin = services(request).volumes.admin
    return admin


def _service_view(svc: VolumeHost, version: mv.Version) -> dict[str, Any]:
    view: dict[str, Any] = {
        "binary": svc.binary, "host": svc.host, "zone": svc.zone, "status": "enabled",
        "state": "up", "updated_at": isotime(svc.updated_at), "disabled_reason": None,
    }
    if svc.binary == VOLUME:
        view.update(replication_status="disabled", active_backend_id=None, frozen=False)
        if version >= BACKEND_STATE:
            view["backend_state"] = "up"
    if version >= SERVICE_CLUSTER:
        view["cluster"] = None
    return view


async def list_services(request: Request) -> Response:
    vr = volume_request(request)
    found = await call(_admin(request).services, vr.caller)
    host = request.query_params.get("host")
    binary = request.query_params.get("binary") or request.query_params.get("service")
    shown = [s for s in found if (not host or host_matches(s.host, host))
             and (not binary or s.binary == binary)]
    return json_response({"services": [_service_view(s, vr.version) for s in shown]})


async def update_service(request: Request) -> Response:
    """``PUT os-services/{action}``: enable answers for a known service (they are always
    enabled); every other action is refused once the host (and binary) are known."""
    vr = volume_request(request)
    action = request.path_params["action"]
    if action not in _ACTIONS:
        raise NotFound("Unknown action")
    doc = await read_json(request)
    if not isinstance(doc, dict):
        raise InvalidRequest("Malformed request body")
    host = doc.get("host")
    if action in ("freeze", "thaw", "failover_host", "failover"):
        return await _host_action(request, action, host)
    binary = doc.get("binary") or doc.get("service")
    if not isinstance(host, str) or not host or not isinstance(binary, str) or not binary:
        raise InvalidRequest("Invalid input: 'host' and 'binary' are required strings")
    reason = doc.get("disabled_reason")
    if action == "disable-log-reason" and (not isinstance(reason, str)
                                           or not 1 <= len(reason.strip()) <= 255):
        raise InvalidRequest("Disabled reason contains invalid characters or is too long")
    svc = await call(_admin(request).find_service, vr.caller, host, binary)
    if action != "enable":
        raise InvalidRequest(f"Service {svc.binary} on {svc.host} cannot be disabled: it runs "
                             "inside cowshed; remove the backend from the settings instead.")
    return json_response({"disabled": False, "status": "enabled", "host": svc.host,
                          "service": "", "binary": svc.binary, "disabled_reason": None})


async def _host_action(request: Request, action: str, host: Any) -> Response:
    vr = volume_request(request)
    hosts = {s.host for s in await call(_admin(request).services, vr.caller)
             if s.binary == VOLUME}
    if not isinstance(host, str) or host not in hosts:
        raise InvalidRequest(f"Invalid host: {host!r} is not a volume service host.")
    raise InvalidRequest(f"{action} is not supported: cowshed's backends have no replication "
                         "targets and are never frozen.")


async def list_hosts(request: Request) -> Response:
    vr = volume_request(request)
    found = await call(_admin(request).services, vr.caller)
    return json_response({"hosts": [
        {"service-status": "available", "service": s.binary, "zone": s.zone,
         "service-state": "enabled", "host_name": s.host, "last-update": isotime(s.updated_at)}
        for s in found]})


def _usage_row(host: str, project: str, volumes: int, gigabytes: int, snapshots: int,
               snapshot_gb: int) -> dict[str, Any]:
    return {"resource": {
        "volume_count": str(volumes), "total_volume_gb": str(gigabytes),
        "snapshot_count": str(snapshots), "total_snapshot_gb": str(snapshot_gb),
        "project": project, "host": host}}


async def show_host(request: Request) -> Response:
    vr = volume_request(request)
    host = request.path_params["host"]
    usage: list[HostUsage] = await call(_admin(request).host_usage, vr.caller, host)
    rows = [_usage_row(host, "(total)", sum(u.volume_count for u in usage),
                       sum(u.volume_gigabytes for u in usage),
                       sum(u.snapshot_count for u in usage),
                       sum(u.snapshot_gigabytes for u in usage))]
    rows += [_usage_row(host, u.project_id, u.volume_count, u.volume_gigabytes,
                        u.snapshot_count, u.snapshot_gigabytes) for u in usage]
    return json_response({"host": rows})


async def get_pools(request: Request) -> Response:
    vr = volume_request(request)
    params = request.query_params
    detail = bool_param("detail", params["detail"]) if "detail" in params else False
    pools = await call(_admin(request).pools, vr.caller)
    if detail:
        return json_response({"pools": [{"name": p.name, "capabilities": dict(p.capabilities)}
                                        for p in pools]})
    return json_response({"pools": [{"name": p.name} for p in pools]})


async def capabilities(request: Request) -> Response:
    vr = volume_request(request)
    host = request.path_params["host"]
    pool = await call(_admin(request).pool_of, vr.caller, host)
    caps = pool.capabilities
    return json_response({
        "namespace": f"OS::Storage::Capabilities::{host}",
        "vendor_name": caps["vendor_name"], "volume_backend_name": caps["volume_backend_name"],
        "pool_name": None, "driver_version": caps["driver_version"],
        "storage_protocol": caps["storage_protocol"], "display_name": None,
        "description": None, "visibility": None, "replication_targets": [],
        "properties": {"thin_provisioning": {
            "title": "Thin Provisioning", "type": "boolean",
            "description": "Volumes take space as they are written (copy-on-write clones "
                           "and snapshots)."}},
    })
