"""The backend Protocols: what every storage driver does, what some can do, and the record saying
which.

Drivers know bytes and backend objects, nothing else: no database, no statuses, no policy.
An object is named by a *key*; keys are namespaced by what they hold (``cowshed.domain.keys``:
images by id, volumes ``volume-<id>``…), so a sweep of one kind never takes another's object.

* :class:`Backend` — the core every driver implements: objects, reads and writes. New data comes
  in through a :class:`Writer` that publishes atomically on :meth:`Writer.commit` (until then
  nothing is visible under the key and :meth:`Backend.cleanup_incomplete` may remove the leftovers
  of a crashed writer), or as an empty object (:meth:`Backend.create`) or a full copy
  (:meth:`Backend.copy`); a committed object can be read and written in place through a
  :class:`Block` (volumes are mutable; images are never opened that way).
* :class:`SnapshotBackend` — named point-in-time snapshots: create, delete, list, read, revert.
* :class:`CloneBackend` — copy-on-write clones of a snapshot, also from another backend of the
  same cluster (across pools), with parent/children queries and flatten.
* :class:`ExtendBackend` — grow an object in place; never shrinks.
* :class:`AttachBackend` — what a hypervisor needs to attach an object (RBD name and monitors,
  a file path).

Each optional protocol is declared in :class:`Capabilities`; services branch on the record
(``as_snapshots(backend)`` …), never on driver names. All methods block; the HTTP layer decides how
to run them off the event loop.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, cast, runtime_checkable

from cowshed.errors import UnsupportedOperation


class CloneCost(enum.StrEnum):
    """What making a clone costs."""

    #: independent of the object's size (RBD layering, reflink).
    CONSTANT = "constant"
    #: proportional to the size: the bytes are copied (the memory backend).
    LINEAR = "linear"


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Computed when the backend is built and never changed after."""

    #: read(offset, length) is cheap, so HTTP Range requests can be served.
    random_read: bool
    #: objects are plain local files: ``local_path`` works and downloads can use sendfile.
    local_files: bool
    #: all-zero regions are not stored (sparse files, RBD objects never written).
    thin: bool
    #: the :class:`SnapshotBackend` operations.
    snapshots: bool
    #: the :class:`CloneBackend` operations (clone, parent, children).
    clone: bool
    #: a clone can be detached from its parent (``CloneBackend.flatten`` does real work).
    flatten: bool
    #: the :class:`ExtendBackend` operation (grow only).
    extend: bool
    #: several hosts see the same objects (Ceph), so a node can clone instead of download.
    shared_across_nodes: bool
    #: ``copy`` shares blocks with its source (FICLONE on XFS/btrfs): constant cost, no data moved.
    reflink: bool = False
    #: the :class:`AttachBackend` operation.
    attach: bool = False
    #: what a clone costs; LINEAR means "works, but copies" (never counted as a fast clone).
    clone_cost: CloneCost = CloneCost.CONSTANT
    #: clones stay children of their snapshot (parent/children say so, the snapshot cannot be
    #: deleted while they live); False when clones are independent at once (reflink, memory).
    clones_depend_on_parent: bool = True


@dataclass(frozen=True)
class ObjectInfo:
    """Size facts about one committed object."""

    key: str
    #: bytes a reader sees.
    size: int
    #: bytes actually allocated on the store (less than ``size`` when thin); None if unknown.
    allocated: int | None


@dataclass(frozen=True)
class Capacity:
    """How much a store holds: Cinder's total and free capacity, in bytes (None: unknown)."""

    total_bytes: int | None
    free_bytes: int | None


@dataclass(frozen=True)
class StoredObject:
    """What a committed write, create, copy or clone produced."""

    key: str
    size: int
    #: the backend's URI for the object, e.g. ``file:///…`` or ``rbd://fsid/pool/key/snap``.
    location: str


@dataclass(frozen=True)
class SnapRef:
    """One snapshot of one object in a named object space (an RBD pool, a directory)."""

    #: the backend's ``space`` (pool name, directory) the object lives in.
    space: str
    key: str
    snap: str


@dataclass(frozen=True)
class ChildRef:
    """A clone of a snapshot: the object space and key of the child."""

    space: str
    key: str


@dataclass(frozen=True)
class AttachInfo:
    """Connection facts for a hypervisor (Cinder's ``initialize_connection`` data)."""

    driver_volume_type: str
    data: Mapping[str, Any]


class Writer(Protocol):
    """A sequential, not-yet-visible write of one object."""

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``. Raises StorageFull when the store has no room."""

    def commit(self) -> StoredObject:
        """Make the bytes durable and visible under the key, atomically."""

    def abort(self) -> None:
        """Drop everything written; safe to call more than once and after a failed commit."""


class Block(Protocol):
    """Random reads and writes inside one committed object (its size stays as it is)."""

    @property
    def size(self) -> int:
        """The object's size in bytes."""

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (short only at the end)."""

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Write ``data`` at ``offset``; InvalidRequest past the end, StorageFull when full."""

    def flush(self) -> None:
        """Make every write so far durable."""

    def close(self) -> None:
        """Flush and release the handle; safe to call twice."""

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """A storage driver instance (one named store): the core every driver implements."""

    #: the store's name in the configuration (e.g. ``file``, ``ceph``).
    name: str
    #: the driver type (``file``, ``memory``, ``rbd``).
    kind: str
    capabilities: Capabilities

    def open_writer(self, key: str, size_hint: int | None) -> Writer:
        """Start writing ``key``. ``size_hint`` is the expected size when known.

        Raises AlreadyExists if a committed object has that key.
        """

    def create(self, key: str, size: int) -> StoredObject:
        """Publish an empty (all-zero, thin where the store is) object of ``size`` bytes.

        AlreadyExists if the key is taken; crash-safe like a writer (whole or absent).
        """

    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        """Publish ``dst_key`` as an independent copy of ``src_key`` (a reflink where the store
        can; holes stay holes). NotFound, AlreadyExists."""

    def open_block(self, key: str) -> Block:
        """Open ``key`` for random reads and writes; NotFound."""

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of ``key`` from ``offset``, ``length`` bytes (None: to the end).

        Raises NotFound. Chunks are large (MiB-sized) where the store allows it.
        """

    def stat(self, key: str) -> ObjectInfo:
        """Size facts for ``key``; raises NotFound."""

    def exists(self, key: str) -> bool:
        """True when a committed object has that key."""

    def delete(self, key: str) -> None:
        """Remove ``key`` and its snapshots; raises NotFound, or InUse (nothing changed) if
        clones need it."""

    def location(self, key: str) -> str:
        """The URI of ``key`` as it would be published (no I/O promise)."""

    def local_path(self, key: str) -> str | None:
        """A filesystem path to the object's bytes, when ``capabilities.local_files``."""

    def keys(self) -> Iterator[str]:
        """Keys of all committed objects (never a snapshot or an incomplete write)."""

    def cleanup_incomplete(self) -> int:
        """Remove leftovers of writers that never committed (after a crash); return how many."""

    def describe(self) -> Mapping[str, object]:
        """Store properties for ``/v2/info/stores/detail`` (data_dir, pool, chunk_size…)."""

    def capacity(self) -> Capacity:
        """Bytes the store can hold and bytes still free for new objects (for an RBD pool, what
        Ceph reports after replication). Never raises for an unknown figure: None instead."""

    def close(self) -> None:
        """Release connections and handles."""


@runtime_checkable
class SnapshotBackend(Backend, Protocol):
    """Named point-in-time snapshots of an object (``capabilities.snapshots``)."""

    def create_snapshot(self, key: str, snap: str) -> None:
        """Create ``key@snap`` (protected, where the store needs it for cloning); AlreadyExists."""

    def delete_snapshot(self, key: str, snap: str) -> None:
        """Delete ``key@snap``; NotFound, or InUse (nothing changed) when clones depend on it."""

    def list_snapshots(self, key: str) -> list[str]:
        """Snapshot names of ``key``, oldest first; NotFound."""

    def open_snapshot_read(
        self, key: str, snap: str, offset: int = 0, length: int | None = None,
    ) -> Iterator[bytes]:
        """The bytes of ``key@snap``, as :meth:`Backend.open_read`."""

    def revert_snapshot(self, key: str, snap: str) -> None:
        """Make ``key``'s bytes (and size) those of ``key@snap`` again; the snapshot stays."""


@runtime_checkable
class CloneBackend(Backend, Protocol):
    """Clones of snapshots (``capabilities.clone``), across pools of one cluster."""

    #: the object space of this backend (RBD pool, directory) as :class:`SnapRef` names it.
    space: str

    def can_clone_from(self, source: Backend) -> bool:
        """True when ``clone(…, source=source)`` works: same cluster, clone-capable."""

    def clone(self, src_key: str, snap: str, dst_key: str, *,
              source: Backend | None = None) -> StoredObject:
        """Publish ``dst_key`` as a child of ``src_key@snap`` in ``source`` (default: this
        backend). NotFound, AlreadyExists, UnsupportedOperation when ``source`` is foreign."""

    def parent(self, key: str) -> SnapRef | None:
        """The snapshot ``key`` is a clone of; None when it is independent."""

    def children(self, key: str, snap: str) -> list[ChildRef]:
        """Every clone that still depends on ``key@snap`` (in any space of the cluster)."""

    def flatten(self, key: str) -> None:
        """Copy the parent's data into ``key`` so it no longer depends on it; no-op if none."""


@runtime_checkable
class ExtendBackend(Backend, Protocol):
    """Objects grow in place (``capabilities.extend``)."""

    def extend(self, key: str, size: int) -> None:
        """Grow ``key`` to ``size`` bytes (new bytes read as zeros). InvalidRequest when
        ``size`` is smaller than the current size: an extend never shrinks."""


@runtime_checkable
class AttachBackend(Backend, Protocol):
    """Objects a hypervisor can attach (``capabilities.attach``)."""

    def attach_info(self, key: str) -> AttachInfo:
        """How to reach ``key`` (RBD: pool/name, monitors, auth; file: the path); NotFound."""


def _require(backend: Backend, flag: bool, what: str) -> None:
    if not flag:
        raise UnsupportedOperation(f"store {backend.name!r} ({backend.kind}) does not support "
                                   f"{what}")


def as_snapshots(backend: Backend) -> SnapshotBackend:
    """``backend`` as a SnapshotBackend, or UnsupportedOperation."""
    _require(backend, backend.capabilities.snapshots, "snapshots")
    return cast(SnapshotBackend, backend)


def as_clones(backend: Backend) -> CloneBackend:
    """``backend`` as a CloneBackend, or UnsupportedOperation."""
    _require(backend, backend.capabilities.clone, "clones")
    return cast(CloneBackend, backend)


def as_extend(backend: Backend) -> ExtendBackend:
    """``backend`` as an ExtendBackend, or UnsupportedOperation."""
    _require(backend, backend.capabilities.extend, "extend")
    return cast(ExtendBackend, backend)


def as_attach(backend: Backend) -> AttachBackend:
    """``backend`` as an AttachBackend, or UnsupportedOperation."""
    _require(backend, backend.capabilities.attach, "attach")
    return cast(AttachBackend, backend)
