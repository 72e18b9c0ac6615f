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

from collections.abc import Mapping
from typing import Any

from cowshed.db.volume_types import VolumeTypeRepository
from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import (
    Attachment,
    AttachmentPage,
    AttachMode,
    AttachStatus,
    Caller,
    ConnectionInfo,
    ImageUpload,
    LineageNode,
    Progress,
    QuotaSet,
    Snapshot,
    SnapshotPage,
    SnapshotStatus,
    Volume,
    VolumePage,
    VolumeStatus,
    VolumeType,
)
from cowshed.services.context import Deps
from cowshed.services.volumes.admin import VolumeAdmin
from cowshed.services.volumes.types import VolumeTypes


class VolumeService:
    """Volumes, snapshots, attachments, types and quotas of one deployment."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.types = VolumeTypes(deps.settings, VolumeTypeRepository(deps.repo.engine))
        # no volume exists until the implementation lands: nothing uses a type or a backend
        self.admin = VolumeAdmin(deps.settings, self.types, type_in_use=lambda name: False,
                                 space=lambda backend: None, usage=lambda backend: [])

    def close(self) -> None:
        """Stop the worker threads (running operations finish or are left to recovery)."""

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
        raise NotImplementedError

    def get(self, caller: Caller, volume_id: str) -> Volume:
        """The volume; NotFound when unknown, hidden or another project's (admins see all)."""
        raise NotImplementedError

    def list(self, caller: Caller, query: VolumeQuery) -> VolumePage:
        """One page of the caller's volumes (every project's with ``query.all_projects``, admins
        only: Forbidden otherwise). NotFound for an unknown marker, InvalidRequest for a bad
        sort key or filter column."""
        raise NotImplementedError

    def update(
        self, caller: Caller, volume_id: str, *, name: str | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> Volume:
        """Change name, description and/or replace the whole metadata; None leaves a field."""
        raise NotImplementedError

    def set_metadata(
        self, caller: Caller, volume_id: str, metadata: Mapping[str, str], *, replace: bool,
    ) -> Mapping[str, str]:
        """Merge ``metadata`` into the volume's (``replace``: make it exactly that); the result."""
        raise NotImplementedError

    def delete_metadata_key(self, caller: Caller, volume_id: str, key: str) -> None:
        """Remove one metadata key; NotFound when absent."""
        raise NotImplementedError

    def set_image_metadata(
        self, caller: Caller, volume_id: str, metadata: Mapping[str, str],
    ) -> Mapping[str, str]:
        """``os-set_image_metadata``: merge into ``volume_image_metadata``; the result."""
        raise NotImplementedError

    def unset_image_metadata(self, caller: Caller, volume_id: str, key: str) -> None:
        """``os-unset_image_metadata``; NotFound when the key is absent."""
        raise NotImplementedError

    def set_bootable(self, caller: Caller, volume_id: str, bootable: bool) -> Volume:
        """``os-set_bootable``."""
        raise NotImplementedError

    def set_readonly(self, caller: Caller, volume_id: str, readonly: bool) -> Volume:
        """``os-update_readonly_flag``."""
        raise NotImplementedError

    def delete(self, caller: Caller, volume_id: str, *, cascade: bool = False,
               force: bool = False) -> Volume:
        """Delete a volume: the record goes to ``deleting`` and disappears when done.

        InvalidState unless the status is deletable (available, error, error_extending,
        error_deleting), it is detached, and it has no snapshots (``cascade`` deletes them too).
        ``force`` (``os-force_delete``, admins only, else Forbidden) accepts any status but
        in-use. A volume whose backend object still has clones is hidden and kept until its last
        child goes; nothing is ever left in the backend once all are gone.
        """
        raise NotImplementedError

    def extend(self, caller: Caller, volume_id: str, new_size: int) -> Volume:
        """Grow to ``new_size`` GiB (``available`` or ``in-use``); InvalidState when not bigger
        than the current size, StorageFull over quota. Returns the record in ``extending``."""
        raise NotImplementedError

    def revert_to_snapshot(self, caller: Caller, volume_id: str, snapshot_id: str) -> Volume:
        """Roll the volume back to ``snapshot_id``, which must be its latest snapshot and of the
        same size (InvalidState otherwise; the volume must be ``available``). Returns the volume
        in ``reverting``."""
        raise NotImplementedError

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
        raise NotImplementedError

    def reset_status(
        self, caller: Caller, volume_id: str, *, status: VolumeStatus | None = None,
        attach_status: AttachStatus | None = None, migration_status: str | None = None,
    ) -> Volume:
        """``os-reset_status`` (admins only: Forbidden). Sets any known status, no machine check."""
        raise NotImplementedError

    def wait_volume(self, volume_id: str, timeout: float = 600.0) -> Volume:
        """Block until the volume leaves its transient status (or is gone: NotFound); the record.
        TimeoutError after ``timeout`` seconds. For the CLI, library users and tests."""
        raise NotImplementedError

    def progress(self, object_id: str) -> Progress | None:
        """How far the running copy/conversion for a volume or image upload is; None if none."""
        raise NotImplementedError

    def lineage(self, caller: Caller, volume_id: str) -> LineageNode:
        """The whole tree the volume belongs to, from its root (an image, a volume, or the volume
        itself) down to every snapshot and clone, hidden ones included and marked."""
        raise NotImplementedError

    # -- legacy attach actions (os-reserve … os-detach) ------------------------------------------

    def reserve(self, caller: Caller, volume_id: str) -> Volume:
        """``os-reserve``: available → attaching (multiattach: in-use → attaching too)."""
        raise NotImplementedError

    def unreserve(self, caller: Caller, volume_id: str) -> Volume:
        """``os-unreserve``: attaching → available (or in-use when other attachments remain)."""
        raise NotImplementedError

    def attach(
        self, caller: Caller, volume_id: str, *, instance_uuid: str | None,
        mountpoint: str, host_name: str | None = None, mode: AttachMode = AttachMode.RW,
    ) -> Attachment:
        """``os-attach``: record the attachment; the volume turns ``in-use``/``attached``.
        Exactly one of instance_uuid/host_name is normally given; InvalidRequest if neither."""
        raise NotImplementedError

    def begin_detaching(self, caller: Caller, volume_id: str) -> Volume:
        """``os-begin_detaching``: in-use → detaching."""
        raise NotImplementedError

    def roll_detaching(self, caller: Caller, volume_id: str) -> Volume:
        """``os-roll_detaching``: detaching → in-use."""
        raise NotImplementedError

    def detach(self, caller: Caller, volume_id: str, attachment_id: str | None = None) -> Volume:
        """``os-detach``: end one attachment (the only one when ``attachment_id`` is None);
        the volume turns ``available`` when none remain. NotFound for an unknown attachment."""
        raise NotImplementedError

    def initialize_connection(
        self, caller: Caller, volume_id: str, connector: Mapping[str, Any],
    ) -> ConnectionInfo:
        """``os-initialize_connection``: RBD ``{name: pool/volume-<id>, hosts, ports,
        auth_enabled, auth_username, secret_type, secret_uuid, cluster_name, volume_id,
        discard}``; file ``{device_path/export, name, format}``; plus the libvirt ``<disk>``."""
        raise NotImplementedError

    def terminate_connection(
        self, caller: Caller, volume_id: str, connector: Mapping[str, Any],
    ) -> None:
        """``os-terminate_connection``: nothing to undo on RBD or file; checks the volume."""
        raise NotImplementedError

    # -- attachments API (3.27+) -----------------------------------------------------------------

    def attachment_create(
        self, caller: Caller, volume_id: str, *, instance_uuid: str | None,
        connector: Mapping[str, Any] | None = None, mode: AttachMode = AttachMode.RW,
    ) -> Attachment:
        """Reserve the volume for an instance: ``reserved``; with a connector it is connected at
        once (``attaching``, connection info on :meth:`attachment_connection`)."""
        raise NotImplementedError

    def attachment_update(
        self, caller: Caller, attachment_id: str, connector: Mapping[str, Any],
    ) -> Attachment:
        """Give the connector of a reserved attachment: it turns ``attaching``."""
        raise NotImplementedError

    def attachment_complete(self, caller: Caller, attachment_id: str) -> Attachment:
        """``os-complete``: the attachment is ``attached``, the volume ``in-use``."""
        raise NotImplementedError

    def attachment_delete(self, caller: Caller, attachment_id: str) -> Volume:
        """End the attachment; the volume returns to ``available`` when none remain."""
        raise NotImplementedError

    def attachment_get(self, caller: Caller, attachment_id: str) -> Attachment:
        raise NotImplementedError

    def attachment_connection(self, caller: Caller, attachment_id: str) -> ConnectionInfo | None:
        """The connection info of a connected attachment (None before a connector was given)."""
        raise NotImplementedError

    def attachment_list(self, caller: Caller, query: VolumeQuery) -> AttachmentPage:
        """Attachments of the caller's volumes; filters ``volume_id``, ``instance_id``,
        ``status``."""
        raise NotImplementedError

    # -- snapshots -------------------------------------------------------------------------------

    def snapshot_create(
        self, caller: Caller, volume_id: str, *, name: str | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
        force: bool = False,
    ) -> Snapshot:
        """Snapshot a volume. The volume must be ``available`` (``in-use`` with ``force``):
        InvalidState otherwise (e.g. a volume in error). StorageFull over the snapshot quota.
        Returns the snapshot in ``creating``."""
        raise NotImplementedError

    def snapshot_get(self, caller: Caller, snapshot_id: str) -> Snapshot:
        raise NotImplementedError

    def snapshot_list(self, caller: Caller, query: VolumeQuery) -> SnapshotPage:
        """As :meth:`list`, for snapshots (filters include ``volume_id``, ``status``, ``name``)."""
        raise NotImplementedError

    def snapshot_update(
        self, caller: Caller, snapshot_id: str, *, name: str | None = None,
        description: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> Snapshot:
        raise NotImplementedError

    def snapshot_set_metadata(
        self, caller: Caller, snapshot_id: str, metadata: Mapping[str, str], *, replace: bool,
    ) -> Mapping[str, str]:
        raise NotImplementedError

    def snapshot_delete_metadata_key(self, caller: Caller, snapshot_id: str, key: str) -> None:
        raise NotImplementedError

    def snapshot_delete(self, caller: Caller, snapshot_id: str, *, force: bool = False) -> Snapshot:
        """Delete a snapshot (``available`` or ``error``; any status with ``force``, admins).
        Volumes cloned from it keep their data: the backend snapshot is kept, hidden, until the
        last of them goes. Returns the snapshot in ``deleting``."""
        raise NotImplementedError

    def snapshot_reset_status(
        self, caller: Caller, snapshot_id: str, status: SnapshotStatus,
    ) -> Snapshot:
        """``os-reset_status`` on a snapshot (admins only)."""
        raise NotImplementedError

    def wait_snapshot(self, snapshot_id: str, timeout: float = 600.0) -> Snapshot:
        """Block until the snapshot leaves its transient status (NotFound once deleted)."""
        raise NotImplementedError

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
        raise NotImplementedError

    def default_quotas(self, caller: Caller) -> QuotaSet:
        """The deployment's default quotas (``os-quota-sets/{p}/defaults``)."""
        raise NotImplementedError

    def limits(self, caller: Caller) -> Mapping[str, int]:
        """Cinder's absolute limits for the caller's project: ``maxTotalVolumes``,
        ``maxTotalSnapshots``, ``maxTotalVolumeGigabytes``, ``maxTotalBackups``,
        ``maxTotalBackupGigabytes``, ``totalVolumesUsed``, ``totalSnapshotsUsed``,
        ``totalGigabytesUsed``, ``totalBackupsUsed``, ``totalBackupGigabytesUsed``."""
        raise NotImplementedError

