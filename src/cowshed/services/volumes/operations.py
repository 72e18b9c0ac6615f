"""The long volume and snapshot operations, run on the worker pool: extend, revert, upload to
an image, snapshot create and delete, volume delete.

Each starts from a status the request already moved the record to (compare-and-set) and ends it:
success returns the record to its resting status, a failure to Cinder's error status for that
operation (``error_extending``, ``error_deleting``…) or, where nothing changed, to where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.volumes import Caller, Snapshot, SnapshotStatus, Volume, VolumeStatus
from cowshed.errors import CowshedError, NotFound
from cowshed.formats.qemu_img import QemuImg
from cowshed.services.images.data import DataService
from cowshed.services.images.service import ImageService
from cowshed.services.volumes.lineage import Lineage
from cowshed.services.volumes.runtime import GiB, Runtime, context_of
from cowshed.services.volumes.stores import LocalSource, ProgressFn, VolumeStore, raw_file

log = logging.getLogger(__name__)
_DONE = {"worker": None, "heartbeat_at": None}


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, CowshedError) else repr(exc)


class Operations:
    def __init__(self, rt: Runtime, lineage: Lineage, images: ImageService,
                 data: DataService) -> None:
        self.rt = rt
        self.db = rt.db
        self.lineage = lineage
        self.images = images
        self.data = data

    # -- extend and revert ----------------------------------------------------------------------

    def extend(self, volume: Volume, new_size: int) -> None:
        back = volume.previous_status or VolumeStatus.AVAILABLE
        try:
            self.rt.store(volume.volume_type).extend(volume.backend_key, new_size * GiB)
        except Exception as exc:
            log.error("extending volume %s failed: %s", volume.id, _message(exc))
            self.db.update_volume(volume.id, expect=[VolumeStatus.EXTENDING],
                                  status=VolumeStatus.ERROR_EXTENDING, **_DONE)
            return
        self.db.update_volume(volume.id, expect=[VolumeStatus.EXTENDING], status=back,
                              size=new_size, previous_status=None, dirty=True, **_DONE)

    def revert(self, volume: Volume, snap: Snapshot) -> None:
        """Roll back; on failure the volume is ``error`` (its data is neither old nor new)."""
        status = VolumeStatus.AVAILABLE
        try:
            self.rt.store(volume.volume_type).revert(volume.backend_key, snap.backend_snap)
        except Exception as exc:
            log.error("reverting volume %s failed: %s", volume.id, _message(exc))
            status = VolumeStatus.ERROR
        self.db.update_volume(volume.id, expect=[VolumeStatus.REVERTING], status=status,
                              dirty=True, **_DONE)
        with contextlib.suppress(CowshedError):
            self.db.update_snapshot(snap.id, expect=[SnapshotStatus.RESTORING],
                                    status=SnapshotStatus.AVAILABLE)

    # -- snapshots ------------------------------------------------------------------------------

    def snapshot_create(self, volume: Volume, snap: Snapshot) -> None:
        status = SnapshotStatus.AVAILABLE
        try:
            self.rt.store(volume.volume_type).snapshot(volume.backend_key, snap.backend_snap)
        except Exception as exc:
            log.error("snapshot %s of volume %s failed: %s", snap.id, volume.id, _message(exc))
            status = SnapshotStatus.ERROR
        self.db.update_snapshot(snap.id, expect=[SnapshotStatus.CREATING], status=status,
                                progress="100%" if status is SnapshotStatus.AVAILABLE else "0%",
                                worker=None, heartbeat_at=None)

    def snapshot_delete(self, snap: Snapshot) -> None:
        """Hide the snapshot, then reclaim: gone at once unless clones still need it."""
        self.db.update_snapshot(snap.id, hidden=True)
        try:
            self.lineage.reclaim(snap.volume_id)
        except Exception as exc:
            log.error("deleting snapshot %s failed: %s", snap.id, _message(exc))
            with contextlib.suppress(NotFound):
                self.db.update_snapshot(snap.id, hidden=False,
                                        status=SnapshotStatus.ERROR_DELETING,
                                        worker=None, heartbeat_at=None)

    # -- delete ---------------------------------------------------------------------------------

    def delete(self, volume: Volume) -> None:
        """Hide the volume (and any snapshots a cascade took along), then reclaim."""
        for snap in self.db.snapshots_of(volume.id, hidden=False):
            self.db.update_snapshot(snap.id, hidden=True, status=SnapshotStatus.DELETING)
        self.db.update_volume(volume.id, hidden=True)
        try:
            self.lineage.reclaim(volume.id)
        except Exception as exc:
            log.error("deleting volume %s failed: %s", volume.id, _message(exc))
            with contextlib.suppress(NotFound):
                self.db.update_volume(volume.id, hidden=False,
                                      status=VolumeStatus.ERROR_DELETING, **_DONE)
            return
        with contextlib.suppress(NotFound):  # kept (hidden) for its clones: no worker on it
            self.db.update_volume(volume.id, **_DONE)

    # -- upload to image ------------------------------------------------------------------------

    def upload(self, volume: Volume, image_id: str, disk_format: str) -> None:
        """Fill image ``image_id`` with the volume's data in ``disk_format``; the volume returns
        to its previous status whatever happens (its data is untouched)."""
        back = volume.previous_status or VolumeStatus.AVAILABLE
        store = self.rt.store(volume.volume_type)
        try:
            self._upload(volume, store, image_id, disk_format)
        except Exception as exc:
            log.error("uploading volume %s to image %s failed: %s", volume.id, image_id,
                      _message(exc))
            # as Cinder: the half-made image goes, rather than sitting queued forever
            with contextlib.suppress(Exception):
                self.images.delete(context_of_owner(volume), image_id)
        finally:
            self.db.update_volume(volume.id, expect=[VolumeStatus.UPLOADING], status=back,
                                  previous_status=None, **_DONE)

    def _upload(self, volume: Volume, store: VolumeStore, image_id: str,
                disk_format: str) -> None:
        ctx = context_of_owner(volume)
        progress = self.rt.report(volume.id, "upload")
        total = volume.size * GiB
        local = store.local_source(volume.backend_key)
        if local is None and disk_format == "raw":
            chunks = store.read_raw(volume.backend_key)
            asyncio.run(self.data.upload(ctx, image_id, _counted(chunks, total, progress),
                                         None, None))
            return
        with self._as_file(store, volume, local) as source, \
                converted(self.rt.qemu, source, disk_format, self.rt) as path, \
                open(path, "rb", buffering=0) as fh:
            chunks = iter(lambda: fh.read(8 << 20), b"")
            asyncio.run(self.data.upload(ctx, image_id, _counted(chunks, total, progress),
                                         None, None))

    @contextlib.contextmanager
    def _as_file(self, store: VolumeStore, volume: Volume,
                 local: LocalSource | None) -> Iterator[LocalSource]:
        if local is not None:
            yield local
            return
        with self.rt.scratch_dir() as scratch:
            path = scratch / f"upload-{volume.id}.raw"
            try:
                with open(path, "wb") as fh:
                    for chunk in store.read_raw(volume.backend_key):
                        fh.write(chunk)
                yield LocalSource(str(path), "raw")
            finally:
                path.unlink(missing_ok=True)


def context_of_owner(volume: Volume) -> RequestContext:
    """The context the upload runs in: the volume's project, with the service's rights."""
    return context_of(Caller(project_id=volume.project_id, user_id=volume.user_id,
                             is_admin=True))


@contextlib.contextmanager
def converted(qemu: QemuImg, source: LocalSource, disk_format: str, rt: Runtime) -> Iterator[str]:
    """``source`` in ``disk_format`` as a file: itself when both are raw; a qcow2 source is
    always converted, because a volume's qcow2 may be an overlay whose backing chain (its
    parent's data) must be folded in — an image with a backing file is refused, rightly."""
    if source.fmt == disk_format == "raw":
        yield source.path
        return
    if disk_format == "raw":
        with raw_file(qemu, source, rt.scratch) as path:
            yield path
        return
    with rt.scratch_dir() as scratch:
        target = scratch / f"upload.{utcnow().timestamp()}.{disk_format}"
        try:
            qemu.convert(source.path, source.fmt, target, disk_format)
            yield str(target)
        finally:
            target.unlink(missing_ok=True)


async def _counted(chunks: Iterator[bytes], total: int,
                   progress: ProgressFn) -> AsyncIterator[bytes]:
    """A sync iterator as an async one (each read in a thread), reporting progress."""
    done = 0
    sentinel = b""
    while True:
        chunk = await asyncio.to_thread(next, chunks, sentinel)
        if not chunk:
            return
        done += len(chunk)
        progress(done, total)
        yield chunk
