"""Creating volumes: blank, from an image, from a snapshot, as a clone of a volume.

The record is written first (``creating``, owned by this process), then the backend object, so a
crash never leaves an object without a record; a clone's dependency on its parent snapshot is
recorded before the backend clone exists. Any failure turns the volume ``error`` (Cinder), never
``available`` with wrong data.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cowshed.backends.base import Backend, as_snapshots
from cowshed.domain.clock import utcnow
from cowshed.domain.images import Image, ImageStatus
from cowshed.domain.keys import volume_key
from cowshed.domain.volumes import (
    AttachStatus,
    BackendParent,
    Caller,
    Origin,
    Snapshot,
    SnapshotStatus,
    SourceKind,
    Volume,
    VolumeStatus,
)
from cowshed.errors import CowshedError, InvalidRequest, InvalidState, NotFound
from cowshed.services.images.service import ImageService
from cowshed.services.volumes.lineage import Lineage
from cowshed.services.volumes.runtime import GiB, Runtime, context_of
from cowshed.services.volumes.stores import LocalSource, VolumeStore

log = logging.getLogger(__name__)
#: Cinder's answer to a size that is not a positive integer.
_BAD_SIZE = "Invalid input received: 'size' parameter must be an integer greater than 0"
#: image fields copied into ``volume_image_metadata`` beside the image's own properties.
_IMAGE_FIELDS = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")


@dataclass(frozen=True)
class CreateRequest:
    """A validated create: the record to insert and where its bytes come from."""

    size: int
    volume_type: str
    origin: Origin
    image: Image | None = None
    snapshot: Snapshot | None = None
    source: Volume | None = None


class Creator:
    def __init__(self, rt: Runtime, lineage: Lineage, images: ImageService) -> None:
        self.rt = rt
        self.db = rt.db
        self.lineage = lineage
        self.images = images

    # -- request --------------------------------------------------------------------------------

    def plan(self, caller: Caller, *, size: int | None, volume_type: str | None,
             image_id: str | None, snapshot_id: str | None, source_volid: str | None,
             visible: Any) -> CreateRequest:
        """Validate sizes and sources; ``visible(caller, volume_id)`` loads a visible volume."""
        if sum(x is not None for x in (image_id, snapshot_id, source_volid)) > 1:
            raise InvalidRequest("Invalid input received: only one of image, snapshot or "
                                 "source volume may be given")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 1):
            raise InvalidRequest(_BAD_SIZE)
        if snapshot_id is not None:
            return self._from_snapshot(caller, size, volume_type, snapshot_id, visible)
        if source_volid is not None:
            return self._from_volume(caller, size, volume_type, visible(caller, source_volid))
        if size is None:
            raise InvalidRequest(_BAD_SIZE)
        vtype = self._type(caller, volume_type, None)
        if image_id is not None:
            image = self._image(caller, image_id, size)
            return CreateRequest(size, vtype, Origin(SourceKind.IMAGE, image_id), image=image)
        return CreateRequest(size, vtype, Origin(SourceKind.BLANK))

    def _type(self, caller: Caller, requested: str | None, inherited: str | None) -> str:
        """The type a new volume gets: the requested one (NotFound also for a private type
        the caller may not use), else its source's, else the default; InvalidRequest when
        the type's backend is not configured (Cinder: no valid backend)."""
        if requested is not None:
            name = self.rt.types.get(requested, caller).name
        else:
            name = inherited or self.rt.types.default().name
        self.rt.types.backend_of(name)
        return name

    def _from_snapshot(self, caller: Caller, size: int | None, volume_type: str | None,
                       snapshot_id: str, visible: Any) -> CreateRequest:
        snap = self.db.get_snapshot(snapshot_id)
        if snap.hidden or not (caller.is_admin or snap.project_id == caller.project_id):
            raise NotFound(f"Snapshot {snapshot_id} could not be found.")
        if snap.status is not SnapshotStatus.AVAILABLE:
            raise InvalidState(f"Originating snapshot status must be one of 'available' "
                               f"values, it is {snap.status}")
        source = self.db.get_volume(snap.volume_id)
        size = snap.size if size is None else size
        if size < snap.size:
            raise InvalidRequest(f"Invalid input received: Volume size '{size}'GB cannot be "
                                 f"smaller than the snapshot size {snap.size}GB.")
        return CreateRequest(size, self._type(caller, volume_type, source.volume_type),
                             Origin(SourceKind.SNAPSHOT, snap.id), snapshot=snap, source=source)

    def _from_volume(self, caller: Caller, size: int | None, volume_type: str | None,
                     source: Volume) -> CreateRequest:
        if source.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
            raise InvalidState(f"Source volume status must be available or in-use, it is "
                               f"{source.status}")
        size = source.size if size is None else size
        if size < source.size:
            raise InvalidRequest(f"Invalid input received: Volume size '{size}'GB cannot be "
                                 f"smaller than the source volume size {source.size}GB.")
        return CreateRequest(size, self._type(caller, volume_type, source.volume_type),
                             Origin(SourceKind.VOLUME, source.id), source=source)

    def _image(self, caller: Caller, image_id: str, size: int) -> Image:
        try:
            image = self.images.get(context_of(caller), image_id)
        except NotFound:
            raise NotFound(f"Image {image_id} could not be found.") from None
        if image.status is not ImageStatus.ACTIVE:
            raise InvalidRequest(f"Invalid input received: image {image_id} is not active "
                                 f"(status {image.status})")
        needed = max(math.ceil((image.virtual_size or image.size or 0) / GiB), image.min_disk)
        if size < needed:
            raise InvalidRequest(f"Invalid input received: Volume size {size}GB cannot be "
                                 f"smaller than the image size {needed}GB.")
        return image

    def record(self, caller: Caller, req: CreateRequest, *, name: str | None,
               description: str | None, metadata: Mapping[str, str] | None,
               availability_zone: str | None, multiattach: bool) -> Volume:
        now = utcnow()
        volume_id = str(uuid.uuid4())
        image_meta = _image_metadata(req.image) if req.image is not None else {}
        bootable = req.image is not None or (req.source is not None and req.source.bootable)
        if req.source is not None and req.image is None:
            image_meta = dict(req.source.image_metadata)
        volume = Volume(
            id=volume_id, project_id=caller.project_id, user_id=caller.user_id, name=name,
            description=description, size=req.size, status=VolumeStatus.CREATING,
            attach_status=AttachStatus.DETACHED, volume_type=req.volume_type, bootable=bootable,
            multiattach=multiattach, backend_key=volume_key(volume_id), origin=req.origin,
            backend_parent=None, created_at=now, updated_at=now,
            availability_zone=availability_zone or "nova", metadata=dict(metadata or {}),
            image_metadata=image_meta, worker=self.rt.worker, heartbeat_at=now,
        )
        self.db.insert_volume(volume)
        return volume

    # -- the work -------------------------------------------------------------------------------

    def build(self, volume: Volume, req: CreateRequest) -> None:
        """Make the backend object; the volume ends ``available`` or ``error``."""
        try:
            self._make(volume, req)
            self.db.update_volume(volume.id, expect=[VolumeStatus.CREATING,
                                                     VolumeStatus.DOWNLOADING],
                                  status=VolumeStatus.AVAILABLE, launched_at=utcnow(),
                                  worker=None, heartbeat_at=None)
        except Exception as exc:
            message = exc.message if isinstance(exc, CowshedError) else repr(exc)
            log.error("creating volume %s failed: %s", volume.id, message)
            with contextlib.suppress(CowshedError):
                self.db.update_volume(volume.id, expect=[VolumeStatus.CREATING,
                                                         VolumeStatus.DOWNLOADING],
                                      status=VolumeStatus.ERROR, worker=None, heartbeat_at=None)
            if not isinstance(exc, CowshedError):
                raise

    def _make(self, volume: Volume, req: CreateRequest) -> None:
        store = self.rt.store(volume.volume_type)
        size = volume.size * GiB
        if req.snapshot is not None and req.source is not None:
            self._from_snapshot_data(volume, store, req.source, req.snapshot, size)
        elif req.source is not None:
            self._clone_volume(volume, store, req.source, size)
        elif req.image is not None:
            self._from_image_data(volume, store, req.image, size)
        else:
            store.create(volume.backend_key, size)

    def _clone_volume(self, volume: Volume, store: VolumeStore, source: Volume,
                      size: int) -> None:
        src_store = self.rt.store(source.volume_type)
        policy = self.rt.policy(volume.volume_type)
        if policy.max_clone_depth == 0 or not store.can_clone_from(src_store):
            self.copy_data(src_store, source.backend_key, None, store, volume, size)
            return
        # under the source's lock, so a reclaim (any process) cannot drop the snapshot between
        # choosing it and recording this clone as its dependant
        with self.rt.volume_lock(source.id):
            snap = self.clone_snapshot(source, src_store)
            self.db.update_volume(volume.id, backend_parent=BackendParent(
                self.rt.backend_name(source.volume_type), source.backend_key, snap,
                SourceKind.VOLUME, source.id))
        store.clone(src_store, source.backend_key, snap, volume.backend_key)
        if not store.clones_depend or self.lineage.depth(source) >= policy.max_clone_depth:
            self.flatten(volume, store, source.id)
        if size > source.size * GiB:
            store.extend(volume.backend_key, size)

    def clone_snapshot(self, source: Volume, store: VolumeStore) -> str:
        """The backend snapshot a clone of ``source`` is made from: the last one, when the
        volume has not been written since (never attached), else a new one."""
        current = self.db.get_volume(source.id)
        if current.clone_snap is not None and not current.dirty \
                and current.attach_status is AttachStatus.DETACHED:
            return current.clone_snap
        name = f"clone-{secrets.token_hex(6)}"
        self.db.add_clone_snap(source.id, name)
        try:
            store.snapshot(source.backend_key, name)
        except BaseException:
            self.db.remove_clone_snap(source.id, name)
            raise
        try:  # reusable only while nothing can write the volume: it must still be available
            self.db.update_volume(source.id, expect=[VolumeStatus.AVAILABLE],
                                  clone_snap=name, dirty=False, updated_at=current.updated_at)
        except InvalidState:
            self.db.update_volume(source.id, clone_snap=name, dirty=True,
                                  updated_at=current.updated_at)
        return name

    def flatten(self, volume: Volume, store: VolumeStore, parent_volume: str) -> None:
        """Make the new volume independent (a no-op for reflinked clones, which already are)
        and drop the parent's snapshot if nothing else needs it."""
        store.flatten(volume.backend_key)
        self.db.update_volume(volume.id, backend_parent=None)
        self.lineage.reclaim(parent_volume)

    def _from_snapshot_data(self, volume: Volume, store: VolumeStore, source: Volume,
                            snap: Snapshot, size: int) -> None:
        src_store = self.rt.store(source.volume_type)
        if not store.can_clone_from(src_store):
            self.copy_data(src_store, source.backend_key, snap.backend_snap, store, volume, size)
            return
        with self.rt.volume_lock(source.id):  # a reclaim drops only snapshots without one
            if self.db.get_snapshot(snap.id).hidden:
                raise NotFound(f"Snapshot {snap.id} could not be found.")
            self.db.update_volume(volume.id, backend_parent=BackendParent(
                self.rt.backend_name(source.volume_type), source.backend_key, snap.backend_snap,
                SourceKind.SNAPSHOT, snap.id))
        store.clone(src_store, source.backend_key, snap.backend_snap, volume.backend_key)
        if not store.clones_depend or \
                self.rt.policy(volume.volume_type).flatten_volume_from_snapshot:
            self.flatten(volume, store, source.id)
        if size > snap.size * GiB:
            store.extend(volume.backend_key, size)

    def copy_data(self, src: VolumeStore, key: str, snap: str | None, dst: VolumeStore,
                  volume: Volume, size: int) -> None:
        """An independent copy of ``key`` (or ``key@snap``) as the new volume."""
        if src is dst and snap is None:
            dst.copy(key, volume.backend_key)
            grow(dst, volume.backend_key, size)
            return
        progress = self.rt.report(volume.id, "copy")
        local = src.local_source(key, snap)
        if local is not None:
            dst.create_from_file(volume.backend_key, size, local, progress)
        else:
            dst.create_from_stream(volume.backend_key, size, src.read_raw(key, snap),
                                   src.size(key), progress)

    def _from_image_data(self, volume: Volume, store: VolumeStore, image: Image,
                         size: int) -> None:
        for name in self.rt.deps.stores.by_weight(list(image.stores)):
            backend = self.rt.deps.stores.get(name)
            if image.disk_format == "raw" and store.can_clone_from(backend) \
                    and _has_image_snapshot(backend, image.id):
                self.db.update_volume(volume.id, backend_parent=BackendParent(
                    name, image.id, "snap", SourceKind.IMAGE, image.id))
                store.clone(backend, image.id, "snap", volume.backend_key)
                grow(store, volume.backend_key, size)
                return
        self.db.update_volume(volume.id, expect=[VolumeStatus.CREATING],
                              status=VolumeStatus.DOWNLOADING)
        self._download_image(volume, store, image, size)

    def _download_image(self, volume: Volume, store: VolumeStore, image: Image,
                        size: int) -> None:
        names = self.rt.deps.stores.by_weight(list(image.stores))
        if not names:
            raise NotFound(f"Image {image.id} has no data")
        backend = self.rt.deps.stores.get(names[0])
        fmt = "raw" if image.disk_format in ("raw", "iso", None) else str(image.disk_format)
        progress = self.rt.report(volume.id, "download")
        path = backend.local_path(image.id) if backend.capabilities.local_files else None
        if path is not None:
            store.create_from_file(volume.backend_key, size, LocalSource(path, fmt), progress)
        elif fmt == "raw":
            store.create_from_stream(volume.backend_key, size, backend.open_read(image.id),
                                     image.size or 0, progress)
        else:
            with self._fetched(backend, image) as fetched:
                store.create_from_file(volume.backend_key, size, LocalSource(fetched, fmt),
                                       progress)

    @contextlib.contextmanager
    def _fetched(self, backend: Backend, image: Image) -> Any:
        """The image's bytes in a scratch file (for a conversion), removed afterwards."""
        with self.rt.scratch_dir() as scratch:
            path = scratch / f"image-{image.id}.{secrets.token_hex(6)}"
            try:
                with open(path, "wb") as fh:
                    for chunk in backend.open_read(image.id):
                        fh.write(chunk)
                yield str(path)
            finally:
                path.unlink(missing_ok=True)


def _has_image_snapshot(backend: Backend, image_id: str) -> bool:
    """The image has the protected ``snap`` glance_store makes on RBD (the clone source)."""
    if not backend.capabilities.snapshots:
        return False
    try:
        return "snap" in as_snapshots(backend).list_snapshots(image_id)
    except NotFound:
        return False


def grow(store: VolumeStore, key: str, size: int) -> None:
    if store.size(key) < size:
        store.extend(key, size)


def _image_metadata(image: Image) -> dict[str, str]:
    meta = {k: str(v) for k, v in image.properties.items() if not k.startswith("os_glance")}
    meta.update(image_id=image.id, image_name=image.name or "")
    for name in _IMAGE_FIELDS:
        value = getattr(image, name)
        if value is not None:
            meta[name] = str(value)
    return meta
