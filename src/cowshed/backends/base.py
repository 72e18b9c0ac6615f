"""The backend Protocol: what every storage driver does, and the record of what it can do.

Drivers know bytes and backend objects, nothing else: no database, no statuses, no policy.
An object is named by a *key* (for images, the image id). Writes go through a :class:`Writer`
that publishes atomically on :meth:`Writer.commit`; until then nothing is visible under the key
and :meth:`Backend.cleanup_incomplete` may remove the leftovers of a crashed writer.

Optional operations (snapshots, clones, flatten, resize) are part of the Protocol but only valid
when the :class:`Capabilities` record says so; services branch on the record, never on names.
All methods block; the HTTP layer decides how to run them off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Computed when the backend is built and never changed after."""

    #: read(offset, length) is cheap, so HTTP Range requests can be served.
    random_read: bool
    #: objects are plain local files: ``local_path`` works and downloads can use sendfile.
    local_files: bool
    #: all-zero regions are not stored (sparse files, RBD objects never written).
    thin: bool
    #: named point-in-time snapshots of an object (create_snapshot/delete_snapshot).
    snapshots: bool
    #: copy-on-write clones of a snapshot whose cost does not depend on size.
    clone: bool
    #: a clone can be detached from its parent (flatten).
    flatten: bool
    #: objects can be grown in place.
    resize: bool
    #: several hosts see the same objects (Ceph), so a node can clone instead of download.
    shared_across_nodes: bool


@dataclass(frozen=True)
class ObjectInfo:
    """Size facts about one committed object."""

    key: str
    #: bytes a reader sees.
    size: int
    #: bytes actually allocated on the store (less than ``size`` when thin); None if unknown.
    allocated: int | None


@dataclass(frozen=True)
class StoredObject:
    """What a committed write produced."""

    key: str
    size: int
    #: the backend's URI for the object, e.g. ``file:///…`` or ``rbd://fsid/pool/key/snap``.
    location: str


class Writer(Protocol):
    """A sequential, not-yet-visible write of one object."""

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``. Raises StorageFull when the store has no room."""

    def commit(self) -> StoredObject:
        """Make the bytes durable and visible under the key, atomically."""

    def abort(self) -> None:
        """Drop everything written; safe to call more than once and after a failed commit."""


@runtime_checkable
class Backend(Protocol):
    """A storage driver instance (one named store)."""

    #: the store's name in the configuration (e.g. ``file``, ``ceph``).
    name: str
    #: the driver type (``file``, ``memory``, ``rbd``).
    kind: str
    capabilities: Capabilities

    def open_writer(self, key: str, size_hint: int | None) -> Writer:
        """Start writing ``key``. ``size_hint`` is the expected size when known.

        Raises AlreadyExists if a committed object has that key.
        """

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of ``key`` from ``offset``, ``length`` bytes (None: to the end).

        Raises NotFound. Chunks are large (MiB-sized) where the store allows it.
        """

    def stat(self, key: str) -> ObjectInfo:
        """Size facts for ``key``; raises NotFound."""

    def exists(self, key: str) -> bool:
        """True when a committed object has that key."""

    def delete(self, key: str) -> None:
        """Remove ``key`` and its snapshots; raises NotFound, or InUse if clones need it."""

    def location(self, key: str) -> str:
        """The URI of ``key`` as it would be published (no I/O promise)."""

    def local_path(self, key: str) -> str | None:
        """A filesystem path to the object's bytes, when ``capabilities.local_files``."""

    def keys(self) -> Iterator[str]:
        """Keys of all committed objects."""

    def cleanup_incomplete(self) -> int:
        """Remove leftovers of writers that never committed (after a crash); return how many."""

    def describe(self) -> Mapping[str, object]:
        """Store properties for ``/v2/info/stores/detail`` (data_dir, pool, chunk_size…)."""

    def close(self) -> None:
        """Release connections and handles."""

    # Optional operations: only valid when the capabilities say so, else UnsupportedOperation.

    def create_snapshot(self, key: str, snap: str) -> None:
        """Create (and protect, where the store needs it for cloning) snapshot ``snap``."""

    def delete_snapshot(self, key: str, snap: str) -> None:
        """Delete snapshot ``snap``; raises InUse when clones depend on it."""

    def clone(self, src_key: str, snap: str, dst_key: str) -> StoredObject:
        """Create ``dst_key`` as a copy-on-write child of ``src_key@snap``."""

    def flatten(self, key: str) -> None:
        """Copy the parent's data into ``key`` so it no longer depends on it."""

    def resize(self, key: str, size: int) -> None:
        """Grow (or shrink) ``key`` to ``size`` bytes."""
