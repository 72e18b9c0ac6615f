"""The parts every group of VolumeService methods uses, built once per service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from cowshed.domain.clock import utcnow
from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import (
    Caller,
    HostUsage,
    PoolSpace,
    Snapshot,
    SnapshotStatus,
    Volume,
)
from cowshed.formats.qemu_img import QemuImg
from cowshed.services.context import Deps
from cowshed.services.images.data import DataService
from cowshed.services.images.service import ImageService
from cowshed.services.volumes.access import Access
from cowshed.services.volumes.admin import VolumeAdmin
from cowshed.services.volumes.attach import Attachments
from cowshed.services.volumes.create import Creator
from cowshed.services.volumes.lineage import Lineage
from cowshed.services.volumes.operations import Operations
from cowshed.services.volumes.quota_limits import QuotaLimits
from cowshed.services.volumes.quotas import Quotas
from cowshed.services.volumes.recovery import Recovery, VolumeRecovery
from cowshed.services.volumes.runtime import Runtime


class ServiceBase:
    """Holds the runtime and the helpers; the method groups inherit it."""

    def __init__(self, deps: Deps, qemu: QemuImg | None = None) -> None:
        self.deps = deps
        self.rt = Runtime(deps, qemu)
        self.types = self.rt.types
        self._access = Access(self.rt.db)
        self._images = ImageService(deps)
        self._lineage = Lineage(self.rt)
        self._creator = Creator(self.rt, self._lineage, self._images)
        self._ops = Operations(self.rt, self._lineage, self._images, DataService(deps))
        self._attach = Attachments(self.rt)
        self._quotas = Quotas(self.rt.db, QuotaLimits(self.rt.type_repo, self.types))
        self.admin = VolumeAdmin(deps.settings, self.types, type_in_use=self._type_in_use,
                                 space=self._space, usage=self._usage)

    def _type_in_use(self, type_name: str) -> bool:
        return bool(self.rt.db.volumes_of_type(type_name))

    def _space(self, backend: str) -> PoolSpace | None:
        capacity = self.rt.backend_by_name(backend).store.backend.capacity()
        if capacity.total_bytes is None or capacity.free_bytes is None:
            return None
        return PoolSpace(total_bytes=capacity.total_bytes, free_bytes=capacity.free_bytes)

    def _usage(self, backend: str) -> list[HostUsage]:
        """Per project: the volumes and snapshots living on ``backend``."""
        counts: dict[str, list[int]] = {}
        for volume in self.rt.db.volumes_where():
            if volume.hidden or self.rt.backend_name(volume.volume_type) != backend:
                continue
            row = counts.setdefault(volume.project_id, [0, 0, 0, 0])
            row[0] += 1
            row[1] += volume.size
            for snap in self.rt.db.snapshots_of(volume.id, hidden=False):
                row[2] += 1
                row[3] += snap.size
        return [HostUsage(project, *row) for project, row in sorted(counts.items())]

    def recover(self) -> VolumeRecovery:
        """Start-up reconciliation of volumes and snapshots (see ``recovery``)."""
        return Recovery(self.rt, self._lineage, self._ops).run()

    def close(self) -> None:
        """Stop the worker threads (running operations finish first)."""
        self.rt.close()

    def _list_scope(self, caller: Caller, query: VolumeQuery) -> str | None:
        """The project a list covers: every project for an admin asking ``all_tenants``
        (ignored for others, as Cinder does)."""
        if query.all_projects and caller.is_admin:
            return None
        return caller.project_id


def new_snapshot(caller: Caller, volume: Volume, name: str | None, description: str | None,
                 metadata: Mapping[str, str] | None, worker: str) -> Snapshot:
    now = utcnow()
    snapshot_id = str(uuid.uuid4())
    return Snapshot(
        id=snapshot_id, volume_id=volume.id, project_id=volume.project_id,
        user_id=caller.user_id, name=name, description=description, size=volume.size,
        status=SnapshotStatus.CREATING, backend_snap=f"snapshot-{snapshot_id}",
        created_at=now, updated_at=now, metadata=dict(metadata or {}), progress="0%",
        worker=worker, heartbeat_at=now,
    )
