"""In-memory backend: a complete driver for tests, examples and dry runs (not for real data)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cowshed.backends._options import parse_options
from cowshed.backends.base import Capabilities, ObjectInfo, StoredObject
from cowshed.errors import AlreadyExists, InUse, NotFound, StorageFull

_READ_CHUNK = 4 << 20


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


class MemoryBackend:
    """Objects are bytes in a dict; snapshots are copies; clones copy the snapshot."""

    kind = "memory"

    def __init__(self, name: str, config: MemoryConfig) -> None:
        self.name = name
        self.config = config
        self.capabilities = Capabilities(
            random_read=True, local_files=False, thin=False, snapshots=True, clone=True,
            flatten=True, resize=True, shared_across_nodes=False,
        )
        self._objects: dict[str, bytes] = {}
        self._snaps: dict[tuple[str, str], bytes] = {}
        self._parents: dict[str, tuple[str, str]] = {}
        self._used = 0
        self._lock = threading.Lock()
        self._instance = uuid.uuid4().hex[:8]

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

    def open_writer(self, key: str, size_hint: int | None) -> _MemoryWriter:
        if key in self._objects:
            raise AlreadyExists(f"object {key} exists in store {self.name!r}")
        return _MemoryWriter(self, key)

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        data = self._get(key)
        end = len(data) if length is None else min(len(data), offset + length)
        return (data[i : min(end, i + _READ_CHUNK)] for i in range(offset, end, _READ_CHUNK))

    def stat(self, key: str) -> ObjectInfo:
        data = self._get(key)
        return ObjectInfo(key=key, size=len(data), allocated=len(data))

    def exists(self, key: str) -> bool:
        return key in self._objects

    def delete(self, key: str) -> None:
        with self._lock:
            data = self._get(key)
            if any(parent[0] == key for parent in self._parents.values()):
                raise InUse(f"object {key} has clones in store {self.name!r}")
            del self._objects[key]
            self._used -= len(data)
            for snap in [s for s in self._snaps if s[0] == key]:
                del self._snaps[snap]
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

    def close(self) -> None:
        return None

    def create_snapshot(self, key: str, snap: str) -> None:
        with self._lock:
            if (key, snap) in self._snaps:
                raise AlreadyExists(f"snapshot {key}@{snap} exists")
            self._snaps[(key, snap)] = self._get(key)

    def delete_snapshot(self, key: str, snap: str) -> None:
        with self._lock:
            if (key, snap) not in self._snaps:
                raise NotFound(f"snapshot {key}@{snap} not found")
            if (key, snap) in self._parents.values():
                raise InUse(f"snapshot {key}@{snap} has clones")
            del self._snaps[(key, snap)]

    def clone(self, src_key: str, snap: str, dst_key: str) -> StoredObject:
        with self._lock:
            try:
                data = self._snaps[(src_key, snap)]
            except KeyError:
                raise NotFound(f"snapshot {src_key}@{snap} not found") from None
            if dst_key in self._objects:
                raise AlreadyExists(f"object {dst_key} exists")
            self._objects[dst_key] = data
            self._parents[dst_key] = (src_key, snap)
        return StoredObject(key=dst_key, size=len(data), location=self.location(dst_key))

    def flatten(self, key: str) -> None:
        self._get(key)
        with self._lock:
            self._parents.pop(key, None)

    def resize(self, key: str, size: int) -> None:
        with self._lock:
            data = self._get(key)
            self._objects[key] = data[:size] + b"\0" * max(0, size - len(data))
