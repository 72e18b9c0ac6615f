"""Volumes, snapshots and attachments (Cinder v3 semantics), their status machines and lineage.

Sizes are whole GiB, as Cinder counts them. Every status change is a compare-and-set in the
repository; :func:`check_volume_transition` / :func:`check_snapshot_transition` say which changes
are allowed at all. An admin's ``os-reset_status`` bypasses the machine (any known status).

Lineage is first-class: each volume records where it came from (:class:`Origin`) and which backend
object and snapshot it is a copy-on-write child of (:class:`BackendParent`), so a delete can tell
whether something still depends on an object and reclaim it when the last child goes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cowshed.errors import InvalidState

GiB = 1 << 30


class VolumeStatus(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ATTACHING = "attaching"
    IN_USE = "in-use"
    DETACHING = "detaching"
    EXTENDING = "extending"
    UPLOADING = "uploading"
    DOWNLOADING = "downloading"
    REVERTING = "reverting"
    #: offered to another project (a volume transfer), until accepted or withdrawn.
    AWAITING_TRANSFER = "awaiting-transfer"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    ERROR_EXTENDING = "error_extending"


class AttachStatus(enum.StrEnum):
    """The volume's ``attach_status`` (Cinder's separate field beside ``status``)."""

    DETACHED = "detached"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    RESERVED = "reserved"


class SnapshotStatus(enum.StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    #: the snapshot is the source of a running revert.
    RESTORING = "restoring"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"


class AttachmentStatus(enum.StrEnum):
    """One attachment's status (the 3.27+ attachments API and the legacy actions)."""

    RESERVED = "reserved"
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"
    DETACHED = "detached"
    ERROR_ATTACHING = "error_attaching"


class AttachMode(enum.StrEnum):
    RW = "rw"
    RO = "ro"


_V = VolumeStatus
#: allowed ``status`` changes (reset-status by an admin excepted).
VOLUME_TRANSITIONS: Mapping[VolumeStatus, frozenset[VolumeStatus]] = {
    _V.CREATING: frozenset({_V.AVAILABLE, _V.DOWNLOADING, _V.ERROR}),
    _V.DOWNLOADING: frozenset({_V.AVAILABLE, _V.ERROR}),
    _V.AVAILABLE: frozenset({
        _V.RESERVED, _V.ATTACHING, _V.EXTENDING, _V.UPLOADING, _V.REVERTING, _V.DELETING,
        _V.AWAITING_TRANSFER,
    }),
    _V.AWAITING_TRANSFER: frozenset({_V.AVAILABLE}),
    _V.RESERVED: frozenset({_V.ATTACHING, _V.IN_USE, _V.AVAILABLE}),
    _V.ATTACHING: frozenset({_V.IN_USE, _V.AVAILABLE, _V.RESERVED}),
    _V.IN_USE: frozenset({_V.DETACHING, _V.EXTENDING, _V.UPLOADING, _V.ATTACHING, _V.RESERVED,
                          _V.AVAILABLE}),
    _V.DETACHING: frozenset({_V.AVAILABLE, _V.IN_USE}),
    _V.EXTENDING: frozenset({_V.AVAILABLE, _V.IN_USE, _V.ERROR_EXTENDING}),
    _V.UPLOADING: frozenset({_V.AVAILABLE, _V.IN_USE, _V.ERROR}),
    _V.REVERTING: frozenset({_V.AVAILABLE, _V.ERROR}),
    _V.DELETING: frozenset({_V.ERROR_DELETING, _V.AVAILABLE}),
    _V.ERROR: frozenset({_V.DELETING}),
    _V.ERROR_DELETING: frozenset({_V.DELETING}),
    _V.ERROR_EXTENDING: frozenset({_V.DELETING}),
}

_S = SnapshotStatus
SNAPSHOT_TRANSITIONS: Mapping[SnapshotStatus, frozenset[SnapshotStatus]] = {
    _S.CREATING: frozenset({_S.AVAILABLE, _S.ERROR}),
    _S.AVAILABLE: frozenset({_S.DELETING, _S.RESTORING}),
    _S.RESTORING: frozenset({_S.AVAILABLE}),
    # a snapshot whose backend object is busy returns to available, as Cinder does
    _S.DELETING: frozenset({_S.ERROR_DELETING, _S.AVAILABLE}),
    _S.ERROR: frozenset({_S.DELETING}),
    _S.ERROR_DELETING: frozenset({_S.DELETING}),
}

#: statuses from which a volume may be deleted (Cinder's API check; ``force`` widens it).
DELETABLE: frozenset[VolumeStatus] = frozenset({
    _V.AVAILABLE, _V.ERROR, _V.ERROR_EXTENDING, _V.ERROR_DELETING,
})
#: statuses a crashed process may leave behind; restart recovery resolves every one of them.
TRANSIENT_VOLUME: frozenset[VolumeStatus] = frozenset({
    _V.CREATING, _V.DOWNLOADING, _V.EXTENDING, _V.UPLOADING, _V.REVERTING, _V.DELETING,
})
TRANSIENT_SNAPSHOT: frozenset[SnapshotStatus] = frozenset({
    _S.CREATING, _S.DELETING, _S.RESTORING,
})


def check_volume_transition(current: VolumeStatus, target: VolumeStatus) -> None:
    """Raise InvalidState unless ``current → target`` is allowed."""
    if target not in VOLUME_TRANSITIONS[current]:
        raise InvalidState(f"Volume status must not change from {current} to {target}")


def check_snapshot_transition(current: SnapshotStatus, target: SnapshotStatus) -> None:
    """Raise InvalidState unless ``current → target`` is allowed."""
    if target not in SNAPSHOT_TRANSITIONS[current]:
        raise InvalidState(f"Snapshot status must not change from {current} to {target}")


@dataclass(frozen=True)
class Caller:
    """Who asks: the project a request acts for and whether it has the admin role.

    Until identity lands the API takes ``project_id`` from the URL (Cinder's noauth); the identity
    issue builds this record from the request context instead.
    """

    project_id: str
    user_id: str | None = None
    is_admin: bool = False


class SourceKind(enum.StrEnum):
    """What a volume was made from."""

    BLANK = "blank"
    IMAGE = "image"
    SNAPSHOT = "snapshot"
    VOLUME = "volume"


@dataclass(frozen=True)
class Origin:
    """Where a volume's first bytes came from (kept after the source is gone)."""

    kind: SourceKind
    #: the image, snapshot or volume id; None for a blank volume.
    source_id: str | None = None


@dataclass(frozen=True)
class BackendParent:
    """The backend snapshot a volume is a copy-on-write child of.

    ``None`` on a volume means it is independent: blank, a full copy, or flattened. The parent
    object is another volume's (or a snapshot's holder's) key, or an image's key in an image store
    on the same cluster; ``owner_kind``/``owner_id`` say which record keeps it alive.
    """

    #: the volume type (backend) holding the parent object; for images, the image store name.
    backend: str
    key: str
    snap: str
    owner_kind: SourceKind
    owner_id: str


@dataclass(frozen=True)
class Attachment:
    """One attachment of a volume to an instance (or a host)."""

    id: str
    volume_id: str
    status: AttachmentStatus
    instance_uuid: str | None
    attached_host: str | None
    mountpoint: str | None
    attach_mode: AttachMode
    #: the os-brick connector the compute host sent (ip, host, initiator…).
    connector: Mapping[str, Any] = field(default_factory=dict)
    attach_time: datetime | None = None
    detach_time: datetime | None = None


@dataclass(frozen=True)
class Volume:
    """One volume record as the services see it."""

    id: str
    project_id: str
    user_id: str | None
    name: str | None
    description: str | None
    #: GiB.
    size: int
    status: VolumeStatus
    attach_status: AttachStatus
    #: the volume type name, which is also the backend name.
    volume_type: str
    bootable: bool
    multiattach: bool
    #: the object's key in its backend (namespaced: ``volumes/volume-<id>`` style).
    backend_key: str
    origin: Origin
    backend_parent: BackendParent | None
    created_at: datetime
    updated_at: datetime
    availability_zone: str = "nova"
    readonly: bool = False
    encrypted: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: image properties copied at create-from-image (``volume_image_metadata``).
    image_metadata: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    launched_at: datetime | None = None
    #: the status before an uploading/extending phase, restored after it.
    previous_status: VolumeStatus | None = None
    #: deleted but kept because children still depend on it; hidden from the API.
    hidden: bool = False
    #: True once the volume was written to (attached rw, reverted, extended) since its last
    #: clone snapshot: such a volume cannot share that snapshot with a new clone.
    dirty: bool = True
    #: name of the backend snapshot a new clone of this volume may reuse (None: make one).
    clone_snap: str | None = None
    #: the process running the volume's transient operation, and its lease (recovery only
    #: touches what a dead or silent worker left).
    worker: str | None = None
    heartbeat_at: datetime | None = None

    @property
    def snapshot_id(self) -> str | None:
        return self.origin.source_id if self.origin.kind is SourceKind.SNAPSHOT else None

    @property
    def source_volid(self) -> str | None:
        return self.origin.source_id if self.origin.kind is SourceKind.VOLUME else None

    @property
    def image_id(self) -> str | None:
        return self.origin.source_id if self.origin.kind is SourceKind.IMAGE else None


@dataclass(frozen=True)
class Snapshot:
    """One snapshot record."""

    id: str
    volume_id: str
    project_id: str
    user_id: str | None
    name: str | None
    description: str | None
    #: GiB: the volume's size when the snapshot was taken.
    size: int
    status: SnapshotStatus
    #: the backend snapshot's name on the volume's object.
    backend_snap: str
    created_at: datetime
    updated_at: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Cinder's ``os-extended-snapshot-attributes:progress``.
    progress: str = "100%"
    hidden: bool = False
    worker: str | None = None
    heartbeat_at: datetime | None = None


class LineageKind(enum.StrEnum):
    IMAGE = "image"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    #: an internal clone snapshot (shared by clones of a volume), not a user snapshot.
    CLONE_SNAPSHOT = "clone_snapshot"


@dataclass(frozen=True)
class LineageNode:
    """One node of a lineage tree: a record and what depends on it copy-on-write."""

    kind: LineageKind
    id: str
    name: str | None
    status: str
    #: deleted by the user but kept for a child; reclaimed when the last child goes.
    hidden: bool
    #: where the bytes live: ``backend`` (volume type or image store) and key[@snap].
    backend: str
    backend_ref: str
    #: independent of its parent (full copy or flattened) although made from it.
    independent: bool = False
    children: tuple[LineageNode, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form served by ``GET …/volumes/{id}/lineage`` and ``cowshed volume lineage``."""
        return {
            "kind": str(self.kind), "id": self.id, "name": self.name, "status": self.status,
            "hidden": self.hidden, "backend": self.backend, "backend_ref": self.backend_ref,
            "independent": self.independent,
            "children": [c.as_dict() for c in self.children],
        }


@dataclass(frozen=True)
class VolumeType:
    """A volume type: a name for one configured volume backend.

    Every ``[volume_backends.NAME]`` table is offered as a type of the same name
    (``configured``: it cannot be changed over the API). Admins add more types over the API
    (Cinder's types-manage); such a type's volumes live on the backend its
    ``volume_backend_name`` extra spec names, else on the default type's backend.
    """

    id: str
    name: str
    description: str
    is_public: bool
    #: ``volume_backend_name`` and what the backend can do (e.g. ``multiattach``).
    extra_specs: Mapping[str, str]
    #: the backend driver type (``rbd``, ``file``).
    backend_kind: str
    #: the name of the ``[volume_backends.NAME]`` table the type's volumes live on.
    backend: str
    #: True for the types made from configuration, False for those created over the API.
    configured: bool = True
    #: the QoS specs associated with the type, if any.
    qos_specs_id: str | None = None


@dataclass(frozen=True)
class ConnectionInfo:
    """What ``os-initialize_connection`` answers: how a hypervisor reaches the volume."""

    driver_volume_type: str
    data: Mapping[str, Any]
    #: the libvirt ``<disk>`` element attaching this volume (target ``vdb``; callers may edit).
    libvirt_xml: str

    def as_dict(self) -> dict[str, Any]:
        return {"driver_volume_type": self.driver_volume_type, "data": dict(self.data)}


@dataclass(frozen=True)
class Progress:
    """How far a running copy or conversion is, for progress bars."""

    done: int
    total: int
    what: str


@dataclass(frozen=True)
class QuotaSet:
    """A project's volume quotas (-1: unlimited) and what it uses."""

    project_id: str
    limits: Mapping[str, int]
    in_use: Mapping[str, int]


@dataclass(frozen=True)
class ImageUpload:
    """The answer to ``os-volume_upload_image``: the new image and the volume uploading."""

    volume: Volume
    image_id: str
    image_name: str
    disk_format: str
    container_format: str


@dataclass(frozen=True)
class VolumePage:
    """One page of a volume list, and the total count when ``with_count`` was asked."""

    items: tuple[Volume, ...]
    count: int | None = None


@dataclass(frozen=True)
class SnapshotPage:
    items: tuple[Snapshot, ...]
    count: int | None = None


@dataclass(frozen=True)
class AttachmentPage:
    items: tuple[Attachment, ...]
    count: int | None = None


@dataclass(frozen=True)
class PoolSpace:
    """How big a backend's pool is and how much of it is free, in bytes."""

    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class VolumeHost:
    """One of Cinder's services as ``os-services`` and ``os-hosts`` show it: the scheduler on
    ``cowshed`` and one ``cinder-volume`` per backend on ``cowshed@<backend>``. They are all
    threads of the API process, so they are up whenever it answers."""

    binary: str
    host: str
    zone: str
    updated_at: datetime
    #: the backend a ``cinder-volume`` host serves ("" for the scheduler).
    backend: str = ""


@dataclass(frozen=True)
class Pool:
    """One pool of ``scheduler-stats/get_pools``: ``host@backend#pool`` and what it offers."""

    name: str
    backend: str
    capabilities: Mapping[str, Any]


@dataclass(frozen=True)
class HostUsage:
    """A project's volumes and snapshots on one backend (``os-hosts/{host}``)."""

    project_id: str
    volume_count: int
    volume_gigabytes: int
    snapshot_count: int
    snapshot_gigabytes: int


@dataclass(frozen=True)
class TypeIndex:
    """What a volume's view needs to know about its type, by type name: the type's id and the
    ``host@backend#pool`` its volumes live on (``os-vol-host-attr:host``)."""

    ids: Mapping[str, str]
    hosts: Mapping[str, str]


class QosConsumer(enum.StrEnum):
    """Who applies a QoS specs set: the hypervisor (``front-end``: Nova turns the specs into
    libvirt ``<iotune>``), the storage backend (``back-end``), or both."""

    FRONT_END = "front-end"
    BACK_END = "back-end"
    BOTH = "both"


@dataclass(frozen=True)
class QosSpecs:
    """A named set of QoS specs (``read_iops_sec``…) associated with volume types."""

    id: str
    name: str
    consumer: QosConsumer
    specs: Mapping[str, str]

    @property
    def front_end(self) -> bool:
        return self.consumer in (QosConsumer.FRONT_END, QosConsumer.BOTH)


@dataclass(frozen=True)
class VolumeTransfer:
    """An offer of a volume to whichever project presents its auth key (Cinder's transfers).
    The key itself is never stored: only ``crypt_hash``, a SHA-256 of ``salt`` and the key."""

    id: str
    volume_id: str
    name: str | None
    salt: str
    crypt_hash: str
    source_project_id: str
    created_at: datetime
    #: transfer the volume's snapshots with it (False: 3.55's ``no_snapshots``).
    with_snapshots: bool = True


@dataclass(frozen=True)
class TransferOffer:
    """A new transfer and its auth key, which only its creator ever sees."""

    transfer: VolumeTransfer
    auth_key: str
