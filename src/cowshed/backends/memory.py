"""In-memory backend: a complete driver for tests, examples and dry runs (not for real data)."""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from cowshed.backends._options import parse_options
from cowshed.backends.base import (
    Backend,
    Capabilities,
    Capacity,
    ChildRef,
    CloneCost,
    ObjectInfo,
    SnapRef,
    StoredObject,
)
from cowshed.errors import (
    AlreadyExists,
    InUse,
    InvalidRequest,
    NotFound,
    StorageFull,
    UnsupportedOperation,
)

_READ_CHUNK = 4 << 20
#: every live memory store, so a snapshot sees its clones in other stores (as RBD sees clones in
#: other pools of the cluster). Weak: a closed, dropped store disappears.
_KNOWN: weakref.WeakSet[MemoryBackend] = weakref.WeakSet()
_KNOWN_LOCK = threading.Lock()


@dataclass(frozen=True)
class MemoryConfig:
    """The memory store has no options of substance; ``max_bytes`` caps its total size."""

    max_bytes: int = 1 << 30


class _MemoryWriter:
    def __init__(self, store: MemoryBackend, key: str) -> None:
        self._store = store
        self._key = key
        self._parts: list[bytes] = []
        self._size = 0
        self._done = False

    def write(self, data: bytes | memoryview) -> None:
        self._store._reserve(len(data))
        self._parts.append(bytes(data))
        self._size += len(data)

    def commit(self) -> StoredObject:
        self._done = True
        return self._store._publish(self._key, b"".join(self._parts))

    def abort(self) -> None:
        if not self._done:
            self._store._release(self._size)
        self._done = True
        self._parts.clear()


class _MemoryBlock:
    def __init__(self, store: MemoryBackend, key: str) -> None:
        self._store = store
        self._key = key
        self._size = len(store._get(key))

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        return self._store._get(self._key)[offset : offset + max(0, length)]

    def write(self, offset: int, data: bytes | memoryview) -> None:
        data = bytes(data)
        if offset < 0 or offset + len(data) > self._size:
            raise InvalidRequest(f"write of {len(data)} bytes at {offset} is outside the object")
        with self._store._lock:
            old = self._store._get(self._key)
            self._store._objects[self._key] = old[:offset] + data + old[offset + len(data):]

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


class MemoryBackend:
    """Objects are bytes in a dict; snapshots are copies; clones copy the snapshot.

    Honest about cost: a clone copies its bytes (``clone_cost`` LINEAR), though it keeps RBD's
    bookkeeping (a snapshot with clones cannot be deleted until they are flattened or gone), so
    services can exercise their lineage rules against it.
    """

    kind = "memory"

    def __init__(self, name: str, config: MemoryConfig) -> None:
        self.name = name
        self.config = config
        self.capabilities = Capabilities(
            random_read=True, local_files=False, thin=False, snapshots=True, clone=True,
            flatten=True, extend=True, shared_across_nodes=False, reflink=False, attach=False,
            clone_cost=CloneCost.LINEAR, clones_depend_on_parent=True,
        )
        self._objects: dict[str, bytes] = {}
        #: (key, snap) → bytes, in creation order (dicts keep insertion order).
        self._snaps: dict[tuple[str, str], bytes] = {}
        #: own clones → (the backend holding the parent, the parent snapshot).
        self._parents: dict[str, tuple[MemoryBackend, SnapRef]] = {}
        self._used = 0
        self._lock = threading.RLock()
        self._instance = uuid.uuid4().hex[:8]
        self.space = f"memory:{self._instance}"
        with _KNOWN_LOCK:
            _KNOWN.add(self)

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, object]) -> MemoryBackend:
        return cls(name, parse_options(name, MemoryConfig, options))

    def _reserve(self, n: int) -> None:
        with self._lock:
            if self._used + n > self.config.max_bytes:
                raise StorageFull(f"memory store {self.name!r} is full")
            self._used += n

    def _release(self, n: int) -> None:
        with self._lock:
            self._used -= n

    def _publish(self, key: str, data: bytes) -> StoredObject:
        with self._lock:
            if key in self._objects:
                self._used -= len(data)
                raise AlreadyExists(f"object {key} exists in store {self.name!r}")
            self._objects[key] = data
        return StoredObject(key=key, size=len(data), location=self.location(key))

    def _get(self, key: str) -> bytes:
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(f"object {key} not found in store {self.name!r}") from None

    def _snap(self, key: str, snap: str) -> bytes:
        try:
            return self._snaps[(key, snap)]
        except KeyError:
            raise NotFound(f"snapshot {key}@{snap} not found in store {self.name!r}") from None

    # -- core -----------------------------------------------------------------------------------

    def open_writer(self, key: str, size_hint: int | None) -> _MemoryWriter:
        if key in self._objects:
            raise AlreadyExists(f"object {key} exists in store {self.name!r}")
        return _MemoryWriter(self, key)

    def create(self, key: str, size: int) -> StoredObject:
        if size < 0:
            raise InvalidRequest("size must not be negative")
        self._reserve(size)
        return self._publish(key, bytes(size))

    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        data = self._get(src_key)
        self._reserve(len(data))
        return self._publish(dst_key, data)

    def open_block(self, key: str) -> _MemoryBlock:
        return _MemoryBlock(self, key)

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        return _chunks(self._get(key), offset, length)

    def stat(self, key: str) -> ObjectInfo:
        data = self._get(key)
        return ObjectInfo(key=key, size=len(data), allocated=len(data))

    def exists(self, key: str) -> bool:
        return key in self._objects

    def delete(self, key: str) -> None:
        with self._lock:
            data = self._get(key)
            snaps = [s for s in self._snaps if s[0] == key]
            if any(self.children(key, snap) for _, snap in snaps):
                raise InUse(f"object {key} has clones in store {self.name!r}")
            del self._objects[key]
            self._used -= len(data)
            for snap_key in snaps:
                self._used -= len(self._snaps.pop(snap_key))
            self._parents.pop(key, None)

    def location(self, key: str) -> str:
        return f"memory://{self._instance}/{key}"

    def local_path(self, key: str) -> str | None:
        return None

    def keys(self) -> Iterator[str]:
        return iter(list(self._objects))

    def cleanup_incomplete(self) -> int:
        return 0

    def describe(self) -> Mapping[str, object]:
        return {"max_bytes": self.config.max_bytes}

    def capacity(self) -> Capacity:
        with self._lock:
            used = self._used
        return Capacity(total_bytes=self.config.max_bytes,
                        free_bytes=max(0, self.config.max_bytes - used))

    def close(self) -> None:
        return None

    # -- snapshots ------------------------------------------------------------------------------

    def create_snapshot(self, key: str, snap: str) -> None:
        with self._lock:
            if (key, snap) in self._snaps:
                raise AlreadyExists(f"snapshot {key}@{snap} exists")
            data = self._get(key)
            self._reserve(len(data))
            self._snaps[(key, snap)] = data

    def delete_snapshot(self, key: str, snap: str) -> None:
        with self._lock:
            data = self._snap(key, snap)
            if self.children(key, snap):
                raise InUse(f"snapshot {key}@{snap} has clones")
            del self._snaps[(key, snap)]
            self._used -= len(data)

    def list_snapshots(self, key: str) -> list[str]:
        self._get(key)
        return [snap for (k, snap) in self._snaps if k == key]

    def open_snapshot_read(
        self, key: str, snap: str, offset: int = 0, length: int | None = None,
    ) -> Iterator[bytes]:
        return _chunks(self._snap(key, snap), offset, length)

    def revert_snapshot(self, key: str, snap: str) -> None:
        with self._lock:
            self._get(key)
            self._objects[key] = self._snap(key, snap)

    # -- clones ---------------------------------------------------------------------------------

    def can_clone_from(self, source: Backend) -> bool:
        return isinstance(source, MemoryBackend)

    def clone(self, src_key: str, snap: str, dst_key: str, *,
              source: Backend | None = None) -> StoredObject:
        origin = self if source is None else source
        if not isinstance(origin, MemoryBackend):
            raise UnsupportedOperation(f"store {self.name!r} cannot clone from {origin.name!r}")
        with self._lock, origin._lock:
            data = origin._snap(src_key, snap)
            if dst_key in self._objects:
                raise AlreadyExists(f"object {dst_key} exists")
            self._reserve(len(data))
            self._objects[dst_key] = data  # honest: a copy, whatever the size
            self._parents[dst_key] = (origin, SnapRef(origin.space, src_key, snap))
        return StoredObject(key=dst_key, size=len(data), location=self.location(dst_key))

    def parent(self, key: str) -> SnapRef | None:
        self._get(key)
        link = self._parents.get(key)
        return None if link is None else link[1]

    def children(self, key: str, snap: str) -> list[ChildRef]:
        """Clones of ``key@snap`` in this backend and in every backend that cloned from it."""
        ref = SnapRef(self.space, key, snap)
        with _KNOWN_LOCK:
            stores = list(_KNOWN)
        return [ChildRef(store.space, child) for store in stores
                for child, (_, parent) in list(store._parents.items()) if parent == ref]

    def flatten(self, key: str) -> None:
        with self._lock:
            self._get(key)
            self._parents.pop(key, None)

    # -- extend ---------------------------------------------------------------------------------

    def extend(self, key: str, size: int) -> None:
        with self._lock:
            data = self._get(key)
            if size < len(data):
                raise InvalidRequest(f"cannot shrink {key} from {len(data)} to {size} bytes")
            self._reserve(size - len(data))
            self._objects[key] = data + bytes(size - len(data))


def _chunks(data: bytes, offset: int, length: int | None) -> Iterator[bytes]:
    end = len(data) if length is None else min(len(data), offset + length)
    return (data[i : min(end, i + _READ_CHUNK)] for i in range(offset, end, _READ_CHUNK))
