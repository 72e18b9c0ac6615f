"""Lineage rules: who depends on whom, reclaiming what nobody needs, and the lineage tree.

Beyond Cinder: a volume or snapshot deleted while clones still depend on its backend snapshot is
*hidden* (gone from the API, still in the database and the backend) and reclaimed, with its
backend snapshots, when its last dependant goes — nothing is left behind in Ceph or on disk, and
no child ever loses data (Cinder leaves ``volume-X.deleted`` and its clone snapshot forever).

Dependencies are recorded on the child (``Volume.backend_parent``) before the backend clone is
made, so a crash never leaves a clone its parent does not know about; the backend's own refusal
to delete a snapshot with clones (InUse) is a second fence.
"""

from __future__ import annotations

import logging

from cowshed.domain.keys import volume_id_of
from cowshed.domain.volumes import (
    AttachStatus,
    BackendParent,
    Caller,
    LineageKind,
    LineageNode,
    SourceKind,
    Volume,
)
from cowshed.errors import InUse, NotFound
from cowshed.services.volumes.runtime import Runtime
from cowshed.services.volumes.stores import VolumeStore

log = logging.getLogger(__name__)


class Lineage:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.db = rt.db

    # -- dependencies ---------------------------------------------------------------------------

    def depth(self, volume: Volume) -> int:
        """Volume-from-volume clone links above ``volume`` (Cinder's ``_get_clone_depth``: links
        to snapshots and images do not count)."""
        depth, current = 0, volume
        seen = {volume.id}
        while (parent := current.backend_parent) is not None \
                and parent.owner_kind is SourceKind.VOLUME and parent.owner_id not in seen:
            found = self.db.find_volume(parent.owner_id)
            if found is None:
                break
            depth += 1
            seen.add(found.id)
            current = found
        return depth

    def has_dependents(self, volume: Volume, snap: str) -> bool:
        backend = self.rt.backend_name(volume.volume_type)
        return bool(self.db.dependents(backend, volume.backend_key, snap))

    # -- reclaiming -----------------------------------------------------------------------------

    def reclaim(self, volume_id: str) -> None:
        """Drop the backend snapshots of ``volume_id`` nobody needs; if the volume is hidden and
        nothing depends on it any more, remove it and reclaim its parent in turn.

        Each volume is read and judged under its lock (``Runtime.volume_lock``): a clone being
        made of it in another thread or process is recorded as a dependant before the lock goes.
        """
        while True:
            with self.rt.volume_lock(volume_id):
                volume = self.db.find_volume(volume_id)
                if volume is None or not self._reclaim_one(volume):
                    return
            log.info("reclaimed volume %s", volume.id)
            parent_volume = self._owner_volume(volume.backend_parent)
            if parent_volume is None:
                return
            volume_id = parent_volume

    def _reclaim_one(self, volume: Volume) -> bool:
        """Drop what nobody needs of ``volume``; whether the whole volume went."""
        store = self.rt.store(volume.volume_type)
        if volume.hidden and self._remove_whole(volume, store):
            return True
        self._drop_unused_clone_snaps(volume, store)
        self._drop_hidden_snapshots(volume, store)
        return volume.hidden and not self.db.snapshots_of(volume.id) \
            and not self.db.clone_snap_names(volume.id) and self._remove_whole(volume, store)

    def _remove_whole(self, volume: Volume, store: VolumeStore) -> bool:
        """Remove a hidden volume with all its snapshots at once, if no clone depends on any of
        them (one backend call, no merging of snapshot files that are going anyway)."""
        snaps = self.db.snapshots_of(volume.id)
        names = [s.backend_snap for s in snaps] + self.db.clone_snap_names(volume.id)
        if any(s.hidden is False for s in snaps) or any(self.has_dependents(volume, n)
                                                        for n in names):
            return False
        try:
            store.delete(volume.backend_key)
        except NotFound:
            pass
        except InUse as exc:
            log.info("hidden volume %s kept: %s", volume.id, exc.message)
            return False
        for snap in snaps:
            self.db.delete_snapshot_row(snap.id)
        self.db.delete_volume_row(volume.id)
        return True

    def _owner_volume(self, parent: BackendParent | None) -> str | None:
        """The volume whose backend snapshot ``parent`` names (None for images)."""
        if parent is None:
            return None
        if parent.owner_kind is SourceKind.VOLUME:
            return parent.owner_id
        if parent.owner_kind is SourceKind.SNAPSHOT:
            try:
                return self.db.get_snapshot(parent.owner_id).volume_id
            except NotFound:
                return _volume_of_key(self, parent)
        return None

    def _drop_unused_clone_snaps(self, volume: Volume, store: VolumeStore) -> None:
        live = volume.attach_status is not AttachStatus.DETACHED
        for name in self.db.clone_snap_names(volume.id):
            if name == volume.clone_snap and not volume.hidden:
                continue  # the snapshot the next clone may reuse
            if self.has_dependents(volume, name):
                continue
            if self._drop_snap(store, volume, name, live):
                self.db.remove_clone_snap(volume.id, name)

    def _drop_hidden_snapshots(self, volume: Volume, store: VolumeStore) -> None:
        """Hidden user snapshots without dependants; repeated while one pass frees another (a
        qcow2 chain merges from the newest end)."""
        live = volume.attach_status is not AttachStatus.DETACHED
        progress = True
        while progress:
            progress = False
            for snap in self.db.snapshots_of(volume.id, hidden=True):
                if self.has_dependents(volume, snap.backend_snap):
                    continue
                if self._drop_snap(store, volume, snap.backend_snap, live):
                    self.db.delete_snapshot_row(snap.id)
                    progress = True

    @staticmethod
    def _drop_snap(store: VolumeStore, volume: Volume, snap: str, live: bool) -> bool:
        try:
            store.delete_snapshot(volume.backend_key, snap, live=live)
        except NotFound:
            return True
        except InUse as exc:
            log.info("snapshot %s of volume %s kept: %s", snap, volume.id, exc.message)
            return False
        return True

    # -- the tree -------------------------------------------------------------------------------

    def tree(self, caller: Caller, volume: Volume) -> LineageNode:
        """The lineage tree ``volume`` belongs to, from its root down."""
        root = self._root(volume)
        if root.origin.kind is SourceKind.IMAGE and root.origin.source_id is not None:
            image_id = root.origin.source_id
            children = [self._volume_node(caller, v)
                        for v in self.db.made_from([image_id])
                        if v.origin.kind is SourceKind.IMAGE and self._sees(caller, v)]
            return LineageNode(LineageKind.IMAGE, image_id, None, "", False, "image",
                               image_id, children=tuple(children))
        return self._volume_node(caller, root)

    def _root(self, volume: Volume) -> Volume:
        current, seen = volume, {volume.id}
        while True:
            source = current.origin.source_id
            parent: Volume | None = None
            if current.origin.kind is SourceKind.VOLUME and source:
                parent = self.db.find_volume(source)
            elif current.origin.kind is SourceKind.SNAPSHOT and source:
                try:
                    parent = self.db.find_volume(self.db.get_snapshot(source).volume_id)
                except NotFound:
                    parent = None
            if parent is None or parent.id in seen:
                return current
            seen.add(parent.id)
            current = parent

    @staticmethod
    def _sees(caller: Caller, volume: Volume) -> bool:
        return caller.is_admin or volume.project_id == caller.project_id

    def _volume_node(self, caller: Caller, volume: Volume) -> LineageNode:
        made = [v for v in self.db.made_from([volume.id])
                if v.origin.kind is SourceKind.VOLUME and self._sees(caller, v)]
        children: list[LineageNode] = []
        for name in self.db.clone_snap_names(volume.id):
            kids = [self._volume_node(caller, v) for v in made
                    if v.backend_parent is not None and v.backend_parent.snap == name]
            children.append(LineageNode(
                LineageKind.CLONE_SNAPSHOT, name, None, "available", False, volume.volume_type,
                f"{volume.backend_key}@{name}", children=tuple(kids)))
        children += [self._volume_node(caller, v) for v in made if v.backend_parent is None]
        for snap in self.db.snapshots_of(volume.id):
            kids = [self._volume_node(caller, v) for v in self.db.made_from([snap.id])
                    if v.origin.kind is SourceKind.SNAPSHOT and self._sees(caller, v)]
            children.append(LineageNode(
                LineageKind.SNAPSHOT, snap.id, snap.name, str(snap.status), snap.hidden,
                volume.volume_type, f"{volume.backend_key}@{snap.backend_snap}",
                children=tuple(kids)))
        return LineageNode(
            LineageKind.VOLUME, volume.id, volume.name, str(volume.status), volume.hidden,
            volume.volume_type, volume.backend_key,
            independent=volume.backend_parent is None and volume.origin.kind is not
            SourceKind.BLANK, children=tuple(children))


def _volume_of_key(lineage: Lineage, parent: BackendParent) -> str | None:
    """The volume whose object ``parent.key`` is (a snapshot row already gone)."""
    volume_id = volume_id_of(parent.key)
    return volume_id if volume_id and lineage.db.find_volume(volume_id) else None
