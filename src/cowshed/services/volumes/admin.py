"""The volume service's administration: types (Cinder's types-manage, extra specs, type
access), and what ``os-services``, ``os-hosts``, ``scheduler-stats/get_pools`` and
``capabilities`` show about the backends.

Everything that changes something needs the admin role (Forbidden otherwise), as Cinder's
default policy says. Cinder's scheduler, volume and backup services are one process here: the
"services" are the scheduler on :data:`HOST` and one ``cinder-volume`` per configured backend
on ``HOST@<backend>``, each pool being ``HOST@<backend>#<pool>``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from cowshed import __version__
from cowshed.config import Settings, VolumeBackendSettings
from cowshed.db.volume_types import StoredType, VolumeTypeRepository
from cowshed.domain.clock import utcnow
from cowshed.domain.volumes import (
    Caller,
    HostUsage,
    Pool,
    PoolSpace,
    TypeIndex,
    VolumeHost,
    VolumeType,
)
from cowshed.errors import AlreadyExists, Forbidden, InvalidRequest, InvalidState, NotFound
from cowshed.services.volumes.qos import QosAdmin
from cowshed.services.volumes.quota_limits import QuotaLimits
from cowshed.services.volumes.types import VolumeTypes

#: the host name every service and pool is reported under (Cinder's ``[DEFAULT] host``).
HOST = "cowshed"
ZONE = "nova"
SCHEDULER = "cinder-scheduler"
VOLUME = "cinder-volume"
#: what each backend kind reports as Cinder drivers do (RBD: "ceph"; file volumes: "file").
_PROTOCOL = {"rbd": "ceph", "file": "file"}
GiB = 1 << 30


def require_admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")


def backend_host(backend: str) -> str:
    return f"{HOST}@{backend}"


def pool_name(spec: VolumeBackendSettings) -> str:
    """The pool part of ``host@backend#pool``: the RBD pool, or the backend's own name."""
    if spec.type == "rbd":
        return str(spec.options.get("rbd_pool", "rbd"))
    return spec.name


def host_part(host: str) -> str:
    """``host`` of ``host@backend#pool`` (Cinder's ``extract_host(…, "host")``)."""
    return host.split("#", 1)[0].split("@", 1)[0]


def host_matches(stored: str, asked: str) -> bool:
    """Cinder's host filter: the name itself, or any backend/pool under it."""
    return stored == asked or stored.startswith((asked + "@", asked + "#"))


class VolumeAdmin:
    """Types management and the deployment's service/pool views (see the module docstring)."""

    def __init__(self, settings: Settings, types: VolumeTypes, *,
                 type_in_use: Callable[[str], bool],
                 space: Callable[[str], PoolSpace | None],
                 usage: Callable[[str], list[HostUsage]]) -> None:
        self.settings = settings
        self.types = types
        self._in_use = type_in_use
        self._space = space
        self._usage = usage
        self.qos = QosAdmin(types)
        self.started_at: datetime = utcnow()

    # -- types ----------------------------------------------------------------------------------

    def create_type(self, caller: Caller, *, name: str, description: str | None,
                    is_public: bool, extra_specs: Mapping[str, str]) -> VolumeType:
        """A new type; AlreadyExists (409) for a taken name, configured ones included."""
        require_admin(caller, "volume_extension:types_manage")
        if name in self.types.configured_names():
            raise AlreadyExists(f"Volume Type {name} already exists.")
        repo = self._repo()
        stored = repo.create_type(str(uuid.uuid4()), name, description, is_public,
                                  dict(extra_specs))
        return self.types.get(stored.id)

    def update_type(self, caller: Caller, type_ref: str, *, name: str | None,
                    description: str | None, is_public: bool | None) -> VolumeType:
        require_admin(caller, "volume_extension:types_manage")
        if name is None and description is None and is_public is None:
            raise InvalidRequest("Specify volume type name, description, is_public or a "
                                 "combination thereof.")
        if name is not None and not name.strip():
            raise InvalidRequest("Volume type name can not be empty.")
        stored = self.types.stored(type_ref)
        if name is not None and name != stored.name:
            if name in self.types.configured_names():
                raise AlreadyExists(f"Volume Type {name} already exists.")
            if self._in_use(stored.name):
                # volumes record their type by name: a rename would orphan them
                raise InvalidState(f"Volume type {stored.name} is in use and cannot be "
                                   "renamed.")
        self._repo().update_type(stored.id, name=name, description=description,
                                 is_public=is_public)
        return self.types.get(stored.id)

    def delete_type(self, caller: Caller, type_ref: str) -> None:
        require_admin(caller, "volume_extension:types_manage")
        stored = self.types.stored(type_ref)
        if self._in_use(stored.name):
            raise InvalidState("Target volume type is still in use.")
        self._repo().delete_type(stored.id)
        if self.types.qos is not None:
            self.types.qos.forget_type(stored.id)

    def set_type_specs(self, caller: Caller, type_ref: str,
                       specs: Mapping[str, str]) -> Mapping[str, str]:
        """Add or replace extra specs; InvalidState while volumes use the type."""
        require_admin(caller, "volume_extension:types_extra_specs:create")
        stored = self._unused(type_ref)
        self._repo().set_specs(stored.id, specs)
        return dict(specs)

    def delete_type_spec(self, caller: Caller, type_ref: str, key: str) -> None:
        require_admin(caller, "volume_extension:types_extra_specs:delete")
        stored = self._unused(type_ref)
        self._repo().delete_spec(stored.id, key)

    def type_access(self, caller: Caller, type_ref: str) -> tuple[str, ...]:
        """The projects a private type is shared with; NotFound for a public type."""
        require_admin(caller, "volume_extension:volume_type_access")
        vtype = self.types.get(type_ref)
        if vtype.is_public:
            raise NotFound("Access list not available for public volume types.")
        return self.types.stored(vtype.id).projects

    def add_type_access(self, caller: Caller, type_ref: str, project_id: str) -> None:
        require_admin(caller, "volume_extension:volume_type_access:addProjectAccess")
        stored = self.types.stored(type_ref)
        if stored.is_public:
            raise InvalidRequest("Invalid volume type: Type access modification is not "
                                 "applicable to public volume type.")
        self._repo().add_project(stored.id, project_id)

    def remove_type_access(self, caller: Caller, type_ref: str, project_id: str) -> None:
        require_admin(caller, "volume_extension:volume_type_access:removeProjectAccess")
        stored = self.types.stored(type_ref)
        self._repo().remove_project(stored.id, project_id)

    def _unused(self, type_ref: str) -> StoredType:
        stored = self.types.stored(type_ref)
        if self._in_use(stored.name):
            raise InvalidState("Volume Type is currently in use.")
        return stored

    def _repo(self) -> VolumeTypeRepository:
        if self.types.repo is None:
            raise InvalidRequest("Volume types cannot be changed in this deployment.")
        return self.types.repo

    def type_index(self) -> TypeIndex:
        """Every type's id and volume host, by type name (for volume views)."""
        pools = {b.name: f"{backend_host(b.name)}#{pool_name(b)}"
                 for b in self.settings.effective_volume_backends()}
        types = self.types.list()
        return TypeIndex(ids={t.name: t.id for t in types},
                         hosts={t.name: pools.get(t.backend, "") for t in types})

    # -- quotas ---------------------------------------------------------------------------------

    @property
    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(self._repo(), self.types)

    def update_quotas(self, caller: Caller, project_id: str,
                      values: Mapping[str, Any]) -> dict[str, int]:
        """Set some of a project's limits (``os-quota-sets`` PUT); every limit in force."""
        require_admin(caller, "volume_extension:quotas:update")
        limits = self.quota_limits
        limits.set_project(project_id, limits.validate(values))
        return limits.project_limits(project_id)

    def delete_quotas(self, caller: Caller, project_id: str) -> None:
        """Back to the defaults (``os-quota-sets`` DELETE)."""
        require_admin(caller, "volume_extension:quotas:delete")
        self.quota_limits.clear_project(project_id)

    def quota_class(self, caller: Caller, name: str) -> dict[str, int]:
        require_admin(caller, "volume_extension:quota_classes")
        return self.quota_limits.class_limits(name)

    def update_quota_class(self, caller: Caller, name: str,
                           values: Mapping[str, Any]) -> dict[str, int]:
        """Set some limits of a quota class; ``default`` is every project's default."""
        require_admin(caller, "volume_extension:quota_classes:update")
        limits = self.quota_limits
        limits.set_class(name, limits.validate(values))
        return limits.class_limits(name)

    # -- services, hosts, pools -----------------------------------------------------------------

    def services(self, caller: Caller) -> list[VolumeHost]:
        """The scheduler and one volume service per backend (admins only)."""
        require_admin(caller, "volume_extension:services:index")
        now = utcnow()
        out = [VolumeHost(SCHEDULER, HOST, ZONE, now)]
        out += [VolumeHost(VOLUME, backend_host(b.name), ZONE, now, b.name)
                for b in self.settings.effective_volume_backends()]
        return out

    def find_service(self, caller: Caller, host: str, binary: str) -> VolumeHost:
        """The service ``binary`` on exactly ``host``; NotFound."""
        for svc in self.services(caller):
            if svc.host == host and svc.binary == binary:
                return svc
        raise NotFound(f"Service {binary} on host {host} could not be found.")

    def host_usage(self, caller: Caller, host: str) -> list[HostUsage]:
        """Per project, the volumes and snapshots on the backend of ``host@backend`` (Cinder's
        ``os-hosts/{host}``); NotFound unless it names a volume service."""
        require_admin(caller, "volume_extension:hosts")
        for svc in self.services(caller):
            if svc.binary == VOLUME and svc.host == host:
                return self._usage(svc.backend)
        raise NotFound(f"Host {host} could not be found.")

    def pools(self, caller: Caller) -> list[Pool]:
        """One pool per backend with Cinder's capability keys (admins only)."""
        require_admin(caller, "scheduler_extension:scheduler_stats:get_pools")
        return [self._pool(b) for b in self.settings.effective_volume_backends()]

    def pool_of(self, caller: Caller, host: str) -> Pool:
        """The pool of ``host@backend`` (or ``host@backend#pool``); NotFound."""
        backend_part = host.split("#", 1)[0]
        for pool in self.pools(caller):
            if pool.name.split("#", 1)[0] == backend_part:
                return pool
        raise NotFound(f"Host {host} could not be found.")

    def _pool(self, spec: VolumeBackendSettings) -> Pool:
        space = self._space(spec.name)
        caps: dict[str, Any] = {
            "pool_name": pool_name(spec), "volume_backend_name": spec.name,
            "vendor_name": "Open Source", "driver_version": __version__,
            "storage_protocol": _PROTOCOL.get(spec.type, spec.type),
            "total_capacity_gb": _gib(space.total_bytes) if space else "unknown",
            "free_capacity_gb": _gib(space.free_bytes) if space else "unknown",
            "reserved_percentage": 0, "QoS_support": False,
            "thin_provisioning_support": True, "thick_provisioning_support": False,
            "max_over_subscription_ratio": "1.0",
            "location_info": f"{spec.type}:{spec.name}:{pool_name(spec)}",
            "backend_state": "up", "timestamp": utcnow().isoformat(),
        }
        return Pool(f"{backend_host(spec.name)}#{pool_name(spec)}", spec.name, caps)


def _gib(size: int) -> float:
    return round(size / GiB, 2)
