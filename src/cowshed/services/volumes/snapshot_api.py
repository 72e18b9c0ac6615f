"""The snapshot methods of :class:`~cowshed.services.volumes.VolumeService`."""

from __future__ import annotations

import time
from collections.abc import Mapping

from cowshed.domain.clock import utcnow
from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import (
    TRANSIENT_SNAPSHOT,
    Caller,
    Snapshot,
    SnapshotPage,
    SnapshotStatus,
    VolumeStatus,
)
from cowshed.errors import InvalidState, NotFound
from cowshed.services.volumes.base import ServiceBase, new_snapshot

_S = SnapshotStatus
#: Cinder's ``snapshot_actions`` status_map for ``os-update_snapshot_status``.
_STATUS_UPDATES: dict[SnapshotStatus, frozenset[SnapshotStatus]] = {
    _S.CREATING: frozenset({_S.CREATING, _S.AVAILABLE, _S.ERROR}),
    _S.DELETING: frozenset({_S.DELETING, _S.ERROR_DELETING}),
}

class SnapshotMethods(ServiceBase):
    # -- snapshots -------------------------------------------------------------------------------

    def snapshot_create(
        self, caller: Caller, volume_id: str, *, name: str | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
        force: bool = False,
    ) -> Snapshot:
        """Snapshot a volume. The volume must be ``available`` (``in-use`` with ``force``):
        InvalidState otherwise (e.g. a volume in error). StorageFull over the snapshot quota.
        Returns the snapshot in ``creating``."""
        volume = self._access.volume(caller, volume_id)
        allowed = [VolumeStatus.AVAILABLE] + ([VolumeStatus.IN_USE] if force else [])
        if volume.status not in allowed:
            raise InvalidState(f"Invalid volume: Volume {volume_id} status must be available"
                               f"{' or in-use' if force else ''}, but current status is: "
                               f"{volume.status}.")
        store = self.rt.store(volume.volume_type)
        if volume.status is VolumeStatus.IN_USE and not store.snapshot_while_attached:
            raise InvalidState(f"Invalid volume: volume type {volume.volume_type!r} cannot "
                               "snapshot an attached volume (qcow2 overlays); detach it first.")
        self._quotas.check(volume.project_id, snapshots=1, gigabytes=volume.size)
        self.rt.require_reachable(volume.volume_type)
        snap = new_snapshot(caller, volume, name, description, metadata, self.rt.worker)
        self.rt.db.insert_snapshot(snap)
        self.rt.submit(snap.id, "snapshot", lambda: self._ops.snapshot_create(volume, snap))
        return snap

    def snapshot_get(self, caller: Caller, snapshot_id: str) -> Snapshot:
        return self._access.snapshot(caller, snapshot_id)

    def snapshot_list(self, caller: Caller, query: VolumeQuery) -> SnapshotPage:
        """As :meth:`list`, for snapshots (filters include ``volume_id``, ``status``, ``name``)."""
        project = self._list_scope(caller, query)
        items, count = self.rt.db.list_snapshots(query, project)
        return SnapshotPage(tuple(items), count)

    def snapshot_update(
        self, caller: Caller, snapshot_id: str, *, name: str | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> Snapshot:
        self._access.snapshot(caller, snapshot_id)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if metadata is not None:
            self.rt.db.set_snapshot_metadata(snapshot_id, metadata, replace=True)
        return self.rt.db.change_snapshot(snapshot_id, changes)

    def snapshot_set_metadata(
        self, caller: Caller, snapshot_id: str, metadata: Mapping[str, str], *, replace: bool,
    ) -> Mapping[str, str]:
        self._access.snapshot(caller, snapshot_id)
        return self.rt.db.set_snapshot_metadata(snapshot_id, metadata, replace=replace)

    def snapshot_delete_metadata_key(self, caller: Caller, snapshot_id: str, key: str) -> None:
        self._access.snapshot(caller, snapshot_id)
        self.rt.db.delete_snapshot_metadata_key(snapshot_id, key)

    def snapshot_delete(self, caller: Caller, snapshot_id: str, *, force: bool = False) -> Snapshot:
        """Delete a snapshot (``available`` or ``error``; any status with ``force``, admins).
        Volumes cloned from it keep their data: the backend snapshot is kept, hidden, until the
        last of them goes. Returns the snapshot in ``deleting``."""
        snap = self._access.snapshot(caller, snapshot_id)
        if force:
            self._access.admin(caller, "volume_extension:snapshot_admin_actions:force_delete")
        expect = set(SnapshotStatus) if force else {SnapshotStatus.AVAILABLE,
                                                    SnapshotStatus.ERROR,
                                                    SnapshotStatus.ERROR_DELETING}
        self.rt.require_reachable(self.rt.db.get_volume(snap.volume_id).volume_type)
        deleting = self.rt.db.update_snapshot(snapshot_id, expect=expect,
                                              status=SnapshotStatus.DELETING,
                                              worker=self.rt.worker, heartbeat_at=utcnow())
        self.rt.submit(snap.id, "delete snapshot", lambda: self._ops.snapshot_delete(deleting))
        return deleting

    def snapshot_reset_status(
        self, caller: Caller, snapshot_id: str, status: SnapshotStatus,
    ) -> Snapshot:
        """``os-reset_status`` on a snapshot (admins only)."""
        self._access.admin(caller, "volume_extension:snapshot_admin_actions:reset_status")
        self._access.snapshot(caller, snapshot_id)
        return self.rt.db.update_snapshot(snapshot_id, status=SnapshotStatus(status),
                                          worker=None, heartbeat_at=None)

    def snapshot_update_status(self, caller: Caller, snapshot_id: str,
                               status: SnapshotStatus, progress: str | None) -> Snapshot:
        """``os-update_snapshot_status`` (what Nova reports about a snapshot it makes itself):
        ``creating`` may become ``creating``, ``available`` or ``error``; ``deleting`` may become
        ``deleting`` or ``error_deleting``. InvalidState otherwise."""
        snap = self._access.snapshot(caller, snapshot_id)
        allowed = _STATUS_UPDATES.get(snap.status, frozenset())
        if status not in allowed:
            raise InvalidState(f"Snapshot status {snap.status} not allowed for "
                               f"update_snapshot_status to {status}")
        changes: dict[str, object] = {"status": status}
        if progress is not None:
            changes["progress"] = progress
        return self.rt.db.change_snapshot(snapshot_id, changes, expect=[snap.status])

    def wait_snapshot(self, snapshot_id: str, timeout: float = 600.0) -> Snapshot:
        """Block until the snapshot leaves its transient status (NotFound once deleted)."""
        deadline = time.monotonic() + timeout
        while True:
            self.rt.wait_local(snapshot_id, 0.2)
            try:
                snap = self.rt.db.get_snapshot(snapshot_id)
            except NotFound:
                raise NotFound(f"Snapshot {snapshot_id} could not be found.") from None
            if snap.hidden:
                raise NotFound(f"Snapshot {snapshot_id} could not be found.")
            if snap.status not in TRANSIENT_SNAPSHOT:
                return snap
            if time.monotonic() > deadline:
                raise TimeoutError(f"snapshot {snapshot_id} is still {snap.status}")
            time.sleep(0.05)
