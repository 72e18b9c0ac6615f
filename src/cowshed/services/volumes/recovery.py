"""Volume recovery at start-up: nothing stuck in a transient status, no object without a record.

Owner-aware: a row in a transient status is taken over only when the process that worked on it
is gone (its pid on this host, else its heartbeat lease), so several processes may share one
database. Records are always written before objects, so an object (or backend snapshot) without a
record can only be the leftover of a crash and is removed; it is listed *before* the records are
read, so a create that starts meanwhile is never mistaken for one.

What each interrupted operation becomes:

* create (``creating``/``downloading``) → ``error``: the data may be incomplete, never
  ``available``;
* extend → the size the backend really has, in the status before (the grow is atomic);
* upload → the status before (the image being filled is left to image recovery);
* revert → done again from the snapshot (``error`` if that fails);
* delete, snapshot delete → done again (both are idempotent);
* snapshot create → ``available`` if the backend snapshot exists, else ``error``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from cowshed.domain.keys import volume_id_of
from cowshed.domain.volumes import (
    TRANSIENT_SNAPSHOT,
    TRANSIENT_VOLUME,
    SnapshotStatus,
    Volume,
    VolumeStatus,
)
from cowshed.errors import CowshedError, InUse, NotFound
from cowshed.services.volumes.lineage import Lineage
from cowshed.services.volumes.operations import Operations
from cowshed.services.volumes.runtime import GiB, Runtime
from cowshed.services.volumes.stores import VolumeStore

log = logging.getLogger(__name__)
_V = VolumeStatus
_DONE = {"worker": None, "heartbeat_at": None}


@dataclass(frozen=True)
class VolumeRecovery:
    volumes_recovered: int
    snapshots_recovered: int
    orphans_removed: int


class Recovery:
    def __init__(self, rt: Runtime, lineage: Lineage, ops: Operations) -> None:
        self.rt = rt
        self.db = rt.db
        self.lineage = lineage
        self.ops = ops

    def run(self) -> VolumeRecovery:
        listed: dict[str, list[str]] = {}
        for store in self.rt.stores():
            store.cleanup()
            listed[store.name] = store.keys()
        volumes = sum(self._volume(v) for v in self.db.volumes_in_status(TRANSIENT_VOLUME)
                      if not v.hidden and self._abandoned(v.worker, v.heartbeat_at))
        snaps = 0
        for snap in self.db.snapshots_in_status(TRANSIENT_SNAPSHOT):
            if not snap.hidden and self._abandoned(snap.worker, snap.heartbeat_at):
                snaps += self._snapshot(snap.id)
        for volume in self.db.hidden_volumes():
            if self._abandoned(volume.worker, volume.heartbeat_at):
                self._quietly(self.lineage.reclaim, volume.id)
        orphans = sum(self._orphans(self.rt.store(name), keys) for name, keys in listed.items())
        report = VolumeRecovery(volumes, snaps, orphans)
        if volumes or snaps or orphans:  # it also runs on every maintenance sweep
            log.info("volume recovery: %s", report)
        return report

    def _abandoned(self, worker: str | None, heartbeat: object) -> bool:
        return worker != self.rt.worker and not self.rt.worker_alive(worker, heartbeat)

    @staticmethod
    def _quietly(fn: Callable[[str], None], arg: str) -> None:
        try:
            fn(arg)
        except CowshedError as exc:
            log.warning("volume recovery step failed: %s", exc.message)

    def _volume(self, volume: Volume) -> int:
        try:
            if volume.status in (_V.CREATING, _V.DOWNLOADING):
                self.db.update_volume(volume.id, expect=[volume.status], status=_V.ERROR, **_DONE)
            elif volume.status is _V.EXTENDING:
                self._extended(volume)
            elif volume.status is _V.UPLOADING:
                self.db.update_volume(volume.id, expect=[_V.UPLOADING],
                                      status=volume.previous_status or _V.AVAILABLE,
                                      previous_status=None, **_DONE)
            elif volume.status is _V.REVERTING:
                self._reverted(volume)
            elif volume.status is _V.DELETING:
                self.ops.delete(volume)
        except CowshedError as exc:
            log.warning("recovery of volume %s failed: %s", volume.id, exc.message)
            return 0
        return 1

    def _extended(self, volume: Volume) -> None:
        real = self.rt.store(volume.volume_type).size(volume.backend_key)
        size = max(volume.size, math.ceil(real / GiB))
        self.db.update_volume(volume.id, expect=[_V.EXTENDING],
                              status=volume.previous_status or _V.AVAILABLE, size=size,
                              previous_status=None, **_DONE)

    def _reverted(self, volume: Volume) -> None:
        restoring = [s for s in self.db.snapshots_of(volume.id)
                     if s.status is SnapshotStatus.RESTORING]
        if not restoring:
            self.db.update_volume(volume.id, expect=[_V.REVERTING], status=_V.ERROR, **_DONE)
            return
        self.ops.revert(volume, restoring[-1])

    def _snapshot(self, snapshot_id: str) -> int:
        snap = self.db.get_snapshot(snapshot_id)
        try:
            if snap.status is SnapshotStatus.CREATING:
                volume = self.db.get_volume(snap.volume_id)
                store = self.rt.store(volume.volume_type)
                made = snap.backend_snap in store.snapshots(volume.backend_key)
                self.db.update_snapshot(snap.id, expect=[SnapshotStatus.CREATING],
                                        status=SnapshotStatus.AVAILABLE if made
                                        else SnapshotStatus.ERROR, worker=None,
                                        heartbeat_at=None)
            elif snap.status is SnapshotStatus.DELETING:
                self.ops.snapshot_delete(snap)
            elif snap.status is SnapshotStatus.RESTORING:
                self.db.update_snapshot(snap.id, expect=[SnapshotStatus.RESTORING],
                                        status=SnapshotStatus.AVAILABLE)
        except CowshedError as exc:
            log.warning("recovery of snapshot %s failed: %s", snap.id, exc.message)
            return 0
        return 1

    def _orphans(self, store: VolumeStore, keys: list[str]) -> int:
        """Volume objects and backend snapshots with no record (listed before the records)."""
        removed = 0
        for key in keys:
            volume_id = volume_id_of(key)
            if volume_id is None:
                continue  # images, node disks, snapshot files: not volume objects
            volume = self.db.find_volume(volume_id)
            if volume is None:
                removed += self._remove(store, key)
            elif volume.backend_key == key:
                removed += self._stray_snapshots(store, volume)
        return removed

    def _remove(self, store: VolumeStore, key: str) -> int:
        try:
            store.delete(key)
        except (NotFound, InUse) as exc:
            log.warning("orphan volume object %s kept: %s", key, exc.message)
            return 0
        log.info("removed orphan volume object %s from %s", key, store.name)
        return 1

    def _stray_snapshots(self, store: VolumeStore, volume: Volume) -> int:
        try:
            names = store.snapshots(volume.backend_key)
        except NotFound:
            return 0
        known = {s.backend_snap for s in self.db.snapshots_of(volume.id)}
        known.update(self.db.clone_snap_names(volume.id))
        removed = 0
        for name in names:
            if name in known:
                continue
            with contextlib.suppress(NotFound, InUse):
                store.delete_snapshot(volume.backend_key, name, live=True)
                removed += 1
        return removed
