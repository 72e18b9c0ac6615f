"""The volume service: Cinder's volume, snapshot and attachment operations over the backends.

This class is the contract the API (``api/volume/``) and the CLI code against. Long operations
(create, clone, extend, revert, upload, delete, snapshot create/delete) return at once with the
record in its transient status (``creating``, ``extending``, ``deleting``…) and finish on the
service's worker threads, as Cinder's API returns 202 and the volume manager works on; callers
that need the outcome use :meth:`VolumeService.wait_volume` / :meth:`wait_snapshot`, and
:meth:`progress` for progress bars. Every status change is a compare-and-set; a request that
finds the wrong status raises :class:`~cowshed.errors.InvalidState` (Cinder's 400).

Errors (all from :mod:`cowshed.errors`):

- ``NotFound`` — unknown (or hidden, or other project's) volume, snapshot, attachment, type,
  image, marker.
- ``InvalidRequest`` — bad sizes (0, negative, smaller than the source), unknown status names,
  bad sort keys, conflicting sources; ``InvalidState`` (a subclass) for a status that forbids the
  operation: delete of an in-use volume or one with snapshots, extend not growing, snapshot of a
  volume in error, revert to a snapshot that is not the latest…
- ``Forbidden`` — an admin-only action (reset status, force delete, all projects) by a non-admin.
- ``StorageFull`` — quota (gigabytes, volumes, snapshots, per-volume size) exceeded (Cinder: 413).
- ``UnsupportedOperation`` — the volume type's backend cannot do it.
- ``BackendUnavailable`` — the backend could not be reached.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

from cowshed.db.volumes import IMAGE, USER
from cowshed.domain.clock import utcnow
from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import (
    DELETABLE,
    TRANSIENT_VOLUME,
    AttachmentStatus,
    AttachStatus,
    Caller,
    ImageUpload,
    LineageNode,
    Progress,
    QuotaSet,
    SnapshotStatus,
    Volume,
    VolumePage,
    VolumeStatus,
    VolumeType,
)
from cowshed.errors import CowshedError, InvalidRequest, InvalidState, NotFound
from cowshed.services.volumes.attach_api import AttachmentMethods
from cowshed.services.volumes.base import ServiceBase
from cowshed.services.volumes.runtime import context_of
from cowshed.services.volumes.snapshot_api import SnapshotMethods
from cowshed.services.volumes.transfer_api import TransferMethods

#: disk formats ``os-volume_upload_image`` may produce.
UPLOAD_FORMATS = frozenset({"raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx"})


class VolumeService(SnapshotMethods, AttachmentMethods, TransferMethods, ServiceBase):
    """Volumes, snapshots, attachments, types and quotas of one deployment."""

    # -- volumes ---------------------------------------------------------------------------------

    def create(
        self, caller: Caller, *, size: int | None, name: str | None = None,
        description: str | None = None, volume_type: str | None = None,
        metadata: Mapping[str, str] | None = None, availability_zone: str | None = None,
        image_id: str | None = None, snapshot_id: str | None = None,
        source_volid: str | None = None, multiattach: bool = False,
    ) -> Volume:
        """Create a volume: blank, from an image, from a snapshot or a clone of a volume.

        At most one of ``image_id``/``snapshot_id``/``source_volid``. ``size`` (GiB) may be None
        with a snapshot or source volume (their size is used); it must be ≥ the source's size and,
        from an image, ≥ the image's virtual size (rounded up to GiB). ``volume_type`` is a type
        name or id (default: ``default_volume_type``; a snapshot's or source volume's own type
        when given one). Returns the record in ``creating``; it turns ``available`` (or
        ``error``) on a worker. Raises NotFound (source, type), InvalidRequest (size, several
        sources, image not active), InvalidState (source not available), StorageFull (quota).
        """
        req = self._creator.plan(caller, size=size, volume_type=volume_type,
                                 image_id=image_id, snapshot_id=snapshot_id,
                                 source_volid=source_volid, visible=self._access.volume)
        self._quotas.check(caller.project_id, volumes=1, gigabytes=req.size)
        sources = [req.source.volume_type] if req.source is not None else []
        self.rt.require_reachable(req.volume_type, *sources)
        volume = self._creator.record(caller, req, name=name, description=description,
                                      metadata=metadata, availability_zone=availability_zone,
                                      multiattach=multiattach)
        self.rt.submit(volume.id, "create", lambda: self._creator.build(volume, req))
        return volume

    def get(self, caller: Caller, volume_id: str) -> Volume:
        """The volume; NotFound when unknown, hidden or another project's (admins see all)."""
        return self._access.volume(caller, volume_id)

    def list(self, caller: Caller, query: VolumeQuery) -> VolumePage:
        """One page of the caller's volumes (every project's with ``query.all_projects``, admins
        only: Forbidden otherwise). NotFound for an unknown marker, InvalidRequest for a bad
        sort key or filter column."""
        project = self._list_scope(caller, query)
        items, count = self.rt.db.list_volumes(query, project)
        return VolumePage(tuple(items), count)

    def update(
        self, caller: Caller, volume_id: str, *, name: str | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> Volume:
        """Change name, description and/or replace the whole metadata; None leaves a field."""
        self._access.volume(caller, volume_id)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if metadata is not None:
            self.rt.db.set_volume_metadata(volume_id, USER, metadata, replace=True)
        return self.rt.db.change_volume(volume_id, changes)

    def set_metadata(
        self, caller: Caller, volume_id: str, metadata: Mapping[str, str], *, replace: bool,
    ) -> Mapping[str, str]:
        """Merge ``metadata`` into the volume's (``replace``: make it exactly that); the result."""
        self._access.volume(caller, volume_id)
        return self.rt.db.set_volume_metadata(volume_id, USER, metadata, replace=replace)

    def delete_metadata_key(self, caller: Caller, volume_id: str, key: str) -> None:
        """Remove one metadata key; NotFound when absent."""
        self._access.volume(caller, volume_id)
        self.rt.db.delete_volume_metadata_key(volume_id, USER, key)

    def set_image_metadata(
        self, caller: Caller, volume_id: str, metadata: Mapping[str, str],
    ) -> Mapping[str, str]:
        """``os-set_image_metadata``: merge into ``volume_image_metadata``; the result."""
        self._access.volume(caller, volume_id)
        return self.rt.db.set_volume_metadata(volume_id, IMAGE, metadata, replace=False)

    def unset_image_metadata(self, caller: Caller, volume_id: str, key: str) -> None:
        """``os-unset_image_metadata``; NotFound when the key is absent."""
        self._access.volume(caller, volume_id)
        self.rt.db.delete_volume_metadata_key(volume_id, IMAGE, key)

    def set_bootable(self, caller: Caller, volume_id: str, bootable: bool) -> Volume:
        """``os-set_bootable``."""
        self._access.volume(caller, volume_id)
        return self.rt.db.update_volume(volume_id, bootable=bootable)

    def set_readonly(self, caller: Caller, volume_id: str, readonly: bool) -> Volume:
        """``os-update_readonly_flag``."""
        self._access.volume(caller, volume_id)
        return self.rt.db.update_volume(volume_id, readonly=readonly)

    def delete(self, caller: Caller, volume_id: str, *, cascade: bool = False,
               force: bool = False) -> Volume:
        """Delete a volume: the record goes to ``deleting`` and disappears when done.

        InvalidState unless the status is deletable (available, error, error_extending,
        error_deleting), it is detached, and it has no snapshots (``cascade`` deletes them too).
        ``force`` (``os-force_delete``, admins only, else Forbidden) accepts any status but
        in-use. A volume whose backend object still has clones is hidden and kept until its last
        child goes; nothing is ever left in the backend once all are gone.
        """
        volume = self._access.volume(caller, volume_id)
        if force:
            self._access.admin(caller, "volume:force_delete")
        if volume.status is VolumeStatus.IN_USE or any(
                a.status is not AttachmentStatus.DETACHED for a in volume.attachments):
            raise InvalidState("Invalid volume: Volume status must be available or error or "
                               "error_restoring or error_extending or error_managing and must "
                               "not be migrating, attached, belong to a group, have snapshots, "
                               "awaiting a transfer, or be disassociated from snapshots after "
                               "volume transfer.")
        snaps = self.rt.db.snapshots_of(volume_id, hidden=False)
        if snaps and not cascade:
            raise InvalidState(f"Invalid volume: Volume {volume_id} still has "
                               f"{len(snaps)} dependent snapshots.")
        expect = set(VolumeStatus) - {VolumeStatus.IN_USE} if force else DELETABLE
        if cascade and any(s.status not in (SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR)
                           for s in snaps):
            raise InvalidState("Invalid volume: a snapshot is busy; cascade delete refused")
        self.rt.require_reachable(volume.volume_type)
        deleting = self.rt.db.update_volume(volume_id, expect=expect,
                                            status=VolumeStatus.DELETING,
                                            worker=self.rt.worker, heartbeat_at=utcnow())
        self.rt.submit(volume_id, "delete", lambda: self._ops.delete(deleting))
        return deleting

    def extend(self, caller: Caller, volume_id: str, new_size: int) -> Volume:
        """Grow to ``new_size`` GiB (``available`` or ``in-use``); InvalidState when not bigger
        than the current size, StorageFull over quota. Returns the record in ``extending``."""
        volume = self._access.volume(caller, volume_id)
        if isinstance(new_size, bool) or not isinstance(new_size, int) or new_size <= volume.size:
            raise InvalidState(f"Invalid input received: New size for extend must be greater "
                               f"than current size. (current: {volume.size}, extended: "
                               f"{new_size}).")
        self._quotas.check(volume.project_id, gigabytes=new_size - volume.size)
        self.rt.require_reachable(volume.volume_type)
        extending = self.rt.db.update_volume(
            volume_id, expect=[VolumeStatus.AVAILABLE, VolumeStatus.IN_USE],
            status=VolumeStatus.EXTENDING, previous_status=volume.status,
            worker=self.rt.worker, heartbeat_at=utcnow())
        self.rt.submit(volume_id, "extend", lambda: self._ops.extend(extending, new_size))
        return extending

    def retype(self, caller: Caller, volume_id: str, new_type: str, *,
               migration_policy: str = "never") -> Volume:
        """``os-retype``: give an ``available`` or ``in-use`` volume another type on the same
        backend (nothing moves: lineage records backends, not types). A type on another
        backend needs a migration, which cowshed does not do: InvalidRequest whatever the
        policy. NotFound for a type the caller may not use; InvalidRequest for the same type."""
        volume = self._access.volume(caller, volume_id)
        vtype = self.types.get(new_type, caller)
        if vtype.name == volume.volume_type:
            raise InvalidRequest("Retype cannot change to the same volume type: New volume "
                                 "type must be different from the current one.")
        if self.types.backend_of(vtype.name) != self.rt.backend_name(volume.volume_type):
            raise InvalidRequest(f"Retype of volume {volume_id} to type {vtype.name} needs a "
                                 f"migration to backend {vtype.backend}, which is not supported "
                                 f"(migration_policy {migration_policy}).")
        return self.rt.db.update_volume(
            volume_id, expect=[VolumeStatus.AVAILABLE, VolumeStatus.IN_USE],
            volume_type=vtype.name)

    def revert_to_snapshot(self, caller: Caller, volume_id: str, snapshot_id: str) -> Volume:
        """Roll the volume back to ``snapshot_id``, which must be its latest snapshot and of the
        same size (InvalidState otherwise; the volume must be ``available``). Returns the volume
        in ``reverting``."""
        volume = self._access.volume(caller, volume_id)
        snap = self._access.snapshot(caller, snapshot_id)
        visible = self.rt.db.snapshots_of(volume_id, hidden=False)
        if snap.volume_id != volume_id or not visible or visible[-1].id != snap.id:
            raise InvalidState("Invalid snapshot: the volume can only be reverted to its "
                               "latest snapshot.")
        if snap.size != volume.size:
            raise InvalidState("Invalid volume: the volume's size differs from the snapshot's; "
                               "revert is not allowed.")
        if volume.status is not VolumeStatus.AVAILABLE:
            raise InvalidState(f"Invalid volume: Volume status must be available to revert, "
                               f"it is {volume.status}.")
        self.rt.require_reachable(volume.volume_type)
        self.rt.db.update_snapshot(snap.id, expect=[SnapshotStatus.AVAILABLE],
                                   status=SnapshotStatus.RESTORING)
        try:
            reverting = self.rt.db.update_volume(
                volume_id, expect=[VolumeStatus.AVAILABLE], status=VolumeStatus.REVERTING,
                worker=self.rt.worker, heartbeat_at=utcnow())
        except BaseException:
            self.rt.db.update_snapshot(snap.id, status=SnapshotStatus.AVAILABLE)
            raise
        self.rt.submit(volume_id, "revert", lambda: self._ops.revert(reverting, snap))
        return reverting

    def upload_to_image(
        self, caller: Caller, volume_id: str, *, image_name: str, disk_format: str = "raw",
        container_format: str = "bare", force: bool = False, visibility: str | None = None,
        protected: bool = False,
    ) -> ImageUpload:
        """``os-volume_upload_image``: a new image whose bytes are the volume's.

        The image is created at once (queued) and filled on a worker, converted to
        ``disk_format`` (raw, qcow2…) through ``formats/``; the volume is ``uploading`` meanwhile
        and returns to its previous status. ``force`` allows an in-use volume. InvalidRequest for
        an unknown disk format.
        """
        volume = self._access.volume(caller, volume_id)
        allowed = [VolumeStatus.AVAILABLE] + ([VolumeStatus.IN_USE] if force else [])
        if volume.status not in allowed:
            raise InvalidState(f"Invalid volume: Volume status must be available (or in-use "
                               f"with force) to upload, it is {volume.status}.")
        if disk_format not in UPLOAD_FORMATS:
            raise InvalidRequest(f"Invalid disk-format '{disk_format}' specified.")
        body: dict[str, object] = {"name": image_name, "disk_format": disk_format,
                                   "container_format": container_format,
                                   "protected": protected}
        if visibility is not None:
            body["visibility"] = visibility
        self.rt.require_reachable(volume.volume_type)
        image = self._images.create(context_of(caller), body)
        try:
            uploading = self.rt.db.update_volume(
                volume_id, expect=allowed, status=VolumeStatus.UPLOADING,
                previous_status=volume.status, worker=self.rt.worker, heartbeat_at=utcnow())
        except BaseException:
            with contextlib.suppress(CowshedError):
                self._images.delete(context_of(caller), image.id)
            raise
        self.rt.submit(volume_id, "upload",
                       lambda: self._ops.upload(uploading, image.id, disk_format))
        return ImageUpload(volume=uploading, image_id=image.id, image_name=image_name,
                           disk_format=disk_format, container_format=container_format)

    def reset_status(
        self, caller: Caller, volume_id: str, *, status: VolumeStatus | None = None,
        attach_status: AttachStatus | None = None, migration_status: str | None = None,
    ) -> Volume:
        """``os-reset_status`` (admins only: Forbidden). Sets any known status, no machine check."""
        self._access.admin(caller, "volume_extension:volume_admin_actions:reset_status")
        self._access.volume(caller, volume_id)
        changes: dict[str, object] = {}
        if status is not None:
            changes.update(status=VolumeStatus(status), worker=None, heartbeat_at=None)
        if attach_status is not None:
            changes["attach_status"] = AttachStatus(attach_status)
        return self.rt.db.change_volume(volume_id, changes)

    def wait_volume(self, volume_id: str, timeout: float = 600.0) -> Volume:
        """Block until the volume leaves its transient status (or is gone: NotFound); the record.
        TimeoutError after ``timeout`` seconds. For the CLI, library users and tests."""
        deadline = time.monotonic() + timeout
        while True:
            self.rt.wait_local(volume_id, 0.2)
            volume = self.rt.db.find_volume(volume_id)
            if volume is None or volume.hidden:
                raise NotFound(f"Volume {volume_id} could not be found.")
            if volume.status not in TRANSIENT_VOLUME:
                return volume
            if time.monotonic() > deadline:
                raise TimeoutError(f"volume {volume_id} is still {volume.status}")
            time.sleep(0.05)

    def progress(self, object_id: str) -> Progress | None:
        """How far the running copy/conversion for a volume or image upload is; None if none."""
        return self.rt.progress(object_id)

    def lineage(self, caller: Caller, volume_id: str) -> LineageNode:
        """The whole tree the volume belongs to, from its root (an image, a volume, or the volume
        itself) down to every snapshot and clone, hidden ones included and marked."""
        volume = self._access.volume(caller, volume_id)
        return self._lineage.tree(caller, volume)

    # -- types, limits, quotas -------------------------------------------------------------------

    def list_types(self, caller: Caller) -> tuple[VolumeType, ...]:
        """Every configured volume backend, offered as a type of the same name."""
        return tuple(self.types.list(caller))

    def get_type(self, caller: Caller, name_or_id: str) -> VolumeType:
        """A type by id or name; NotFound (also for a private type the caller may not see)."""
        return self.types.get(name_or_id, caller)

    def default_type(self, caller: Caller) -> VolumeType:
        """The type used when a create names none (``default_volume_type``)."""
        return self.types.default()

    def quotas(self, caller: Caller, project_id: str, *, usage: bool = False) -> QuotaSet:
        """The project's quotas (``usage``: with what it uses). Another project's quotas need the
        admin role (Forbidden)."""
        if project_id != caller.project_id:
            self._access.admin(caller, "volume_extension:quotas:show")
        return self._quotas.quota_set(project_id, usage=usage)

    def default_quotas(self, caller: Caller) -> QuotaSet:
        """The deployment's default quotas (``os-quota-sets/{p}/defaults``)."""
        return QuotaSet(caller.project_id or "", self._quotas.defaults(), {})

    def limits(self, caller: Caller) -> Mapping[str, int]:
        """Cinder's absolute limits for the caller's project: ``maxTotalVolumes``,
        ``maxTotalSnapshots``, ``maxTotalVolumeGigabytes``, ``maxTotalBackups``,
        ``maxTotalBackupGigabytes``, ``totalVolumesUsed``, ``totalSnapshotsUsed``,
        ``totalGigabytesUsed``, ``totalBackupsUsed``, ``totalBackupGigabytesUsed``."""
        return self._quotas.absolute_limits(caller.project_id)

