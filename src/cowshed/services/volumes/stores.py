"""Volume stores: one per volume type, the volume-shaped face of a backend.

A :class:`VolumeStore` offers what the volume operations need — objects, snapshots, clones with
parent/children, flatten, grow, revert, bulk import and export, attach facts — the same way on
every backend:

* :class:`NativeStore` wraps a backend whose Capabilities claim snapshots, clones and extend
  (RBD; a file store on a reflink filesystem; the memory backend) and uses its protocols.
* :class:`~cowshed.services.volumes.overlay.OverlayStore` builds the same on a plain file store
  from qcow2 overlays (``services/volumes/overlay.py``).

The service chooses by capabilities, never by driver name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cowshed.backends._zeros import nonzero_runs
from cowshed.backends.base import (
    Backend,
    ChildRef,
    CloneCost,
    SnapRef,
    as_attach,
    as_clones,
    as_extend,
    as_snapshots,
)
from cowshed.errors import NotFound, UnsupportedOperation
from cowshed.formats.qemu_img import QemuImg

#: bytes per write when streaming raw data into a volume.
STREAM_BLOCK = 8 << 20
#: called with (bytes done, bytes in all) while data moves.
ProgressFn = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class LocalSource:
    """A volume's (or snapshot's) bytes as a local file qemu-img can read."""

    path: str
    fmt: str


class VolumeStore(Protocol):
    """What the volume service needs from the storage of one volume type."""

    #: the volume type (= volume backend) name.
    name: str
    #: the disk format hypervisors see (``raw`` on RBD and reflink files, ``qcow2`` overlays).
    disk_format: str

    @property
    def backend(self) -> Backend:
        """The backend holding the objects."""

    @property
    def snapshot_while_attached(self) -> bool:
        """A snapshot of an attached volume is safe (the hypervisor writes through the
        backend's own snapshot machinery, not to a file we rename)."""

    @property
    def fast_clone(self) -> bool:
        """Clones cost the same at any size."""

    @property
    def space(self) -> str:
        """The object space (pool, directory) parents are named in."""

    @property
    def clones_depend(self) -> bool:
        """A clone keeps needing its parent's snapshot (False: reflinked, independent at once)."""

    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def keys(self) -> list[str]:
        """Every object key in the store (volumes and whatever else shares it)."""

    def create(self, key: str, size: int) -> None:
        """An empty volume of ``size`` bytes."""

    def create_from_file(self, key: str, size: int, source: LocalSource,
                         progress: ProgressFn) -> None:
        """A volume of ``size`` bytes holding the guest data of ``source`` (converted)."""

    def create_from_stream(self, key: str, size: int, chunks: Iterable[bytes], total: int,
                           progress: ProgressFn) -> None:
        """A volume of ``size`` bytes whose first bytes are ``chunks`` (raw data)."""

    def copy(self, src_key: str, dst_key: str) -> None:
        """An independent full copy of ``src_key``'s current data."""

    def delete(self, key: str) -> None:
        """Remove ``key`` with all its snapshots; InUse (nothing removed) if clones need one."""

    def snapshot(self, key: str, snap: str) -> None: ...
    def delete_snapshot(self, key: str, snap: str, *, live: bool) -> None:
        """Remove ``key@snap``; InUse while something depends on it (``live``: the volume is
        attached, so the store must not rewrite its files)."""

    def snapshots(self, key: str) -> list[str]: ...
    def revert(self, key: str, snap: str) -> None: ...
    def can_clone_from(self, other: VolumeStore | Backend) -> bool: ...
    def clone(self, source: VolumeStore | Backend, key: str, snap: str, dst_key: str) -> None:
        """``dst_key`` as a copy-on-write child of ``key@snap`` in ``source``."""

    def parent(self, key: str) -> SnapRef | None: ...
    def children(self, key: str, snap: str) -> list[ChildRef]: ...
    def flatten(self, key: str) -> None: ...
    def extend(self, key: str, size: int) -> None: ...
    def local_source(self, key: str, snap: str | None = None) -> LocalSource | None:
        """The object (or snapshot) as a local file, when the store has files."""

    def read_raw(self, key: str, snap: str | None = None) -> Iterator[bytes]:
        """The guest data, raw; UnsupportedOperation where only ``local_source`` works."""

    def attach_info(self, key: str) -> dict[str, Any]: ...
    def cleanup(self) -> int:
        """Remove what crashed operations left (incomplete writes, half snapshots)."""


class NativeStore:
    """A volume store on a backend with snapshot, clone and extend protocols of its own."""

    disk_format = "raw"
    snapshot_while_attached = True

    def __init__(self, name: str, backend: Backend, qemu: QemuImg, scratch: Path) -> None:
        self.name = name
        self.backend = backend
        self._snaps = as_snapshots(backend)
        self._clones = as_clones(backend)
        self._extend = as_extend(backend)
        self._qemu = qemu
        self._scratch = scratch

    @property
    def fast_clone(self) -> bool:
        return self.backend.capabilities.clone_cost is CloneCost.CONSTANT

    @property
    def space(self) -> str:
        return self._clones.space

    @property
    def clones_depend(self) -> bool:
        return self.backend.capabilities.clones_depend_on_parent

    def exists(self, key: str) -> bool:
        return self.backend.exists(key)

    def size(self, key: str) -> int:
        return self.backend.stat(key).size

    def keys(self) -> list[str]:
        return list(self.backend.keys())

    def create(self, key: str, size: int) -> None:
        self.backend.create(key, size)

    def create_from_stream(self, key: str, size: int, chunks: Iterable[bytes], total: int,
                           progress: ProgressFn) -> None:
        self.backend.create(key, size)
        with self.backend.open_block(key) as block:
            write_stream(block.write, chunks, total, progress)

    def create_from_file(self, key: str, size: int, source: LocalSource,
                         progress: ProgressFn) -> None:
        with raw_file(self._qemu, source, self._scratch) as raw:
            total = os.path.getsize(raw)
            with open(raw, "rb", buffering=0) as fh:
                chunks = iter(lambda: fh.read(STREAM_BLOCK), b"")
                self.create_from_stream(key, size, chunks, total, progress)

    def copy(self, src_key: str, dst_key: str) -> None:
        self.backend.copy(src_key, dst_key)

    def delete(self, key: str) -> None:
        self.backend.delete(key)

    def snapshot(self, key: str, snap: str) -> None:
        self._snaps.create_snapshot(key, snap)

    def delete_snapshot(self, key: str, snap: str, *, live: bool) -> None:
        self._snaps.delete_snapshot(key, snap)

    def snapshots(self, key: str) -> list[str]:
        return self._snaps.list_snapshots(key)

    def revert(self, key: str, snap: str) -> None:
        self._snaps.revert_snapshot(key, snap)

    @staticmethod
    def _backend_of(other: VolumeStore | Backend) -> Backend | None:
        if isinstance(other, NativeStore):
            return other.backend
        return other if isinstance(other, Backend) else None

    def can_clone_from(self, other: VolumeStore | Backend) -> bool:
        source = self._backend_of(other)
        return source is not None and self._clones.can_clone_from(source)

    def clone(self, source: VolumeStore | Backend, key: str, snap: str, dst_key: str) -> None:
        origin = self._backend_of(source)
        if origin is None:
            raise UnsupportedOperation(f"volume backend {self.name!r} cannot clone from "
                                       f"{getattr(source, 'name', source)!r}")
        self._clones.clone(key, snap, dst_key, source=origin)

    def parent(self, key: str) -> SnapRef | None:
        return self._clones.parent(key)

    def children(self, key: str, snap: str) -> list[ChildRef]:
        return self._clones.children(key, snap)

    def flatten(self, key: str) -> None:
        self._clones.flatten(key)

    def extend(self, key: str, size: int) -> None:
        self._extend.extend(key, size)

    def local_source(self, key: str, snap: str | None = None) -> LocalSource | None:
        if snap is not None or not self.backend.capabilities.local_files:
            return None
        path = self.backend.local_path(key)
        return None if path is None else LocalSource(path, "raw")

    def read_raw(self, key: str, snap: str | None = None) -> Iterator[bytes]:
        if snap is None:
            return self.backend.open_read(key)
        return self._snaps.open_snapshot_read(key, snap)

    def attach_info(self, key: str) -> dict[str, Any]:
        info = as_attach(self.backend).attach_info(key) if self.backend.capabilities.attach \
            else None
        if info is None:
            return {"driver_volume_type": self.backend.kind, "data": {"name": key}}
        return {"driver_volume_type": info.driver_volume_type, "data": dict(info.data)}

    def cleanup(self) -> int:
        return self.backend.cleanup_incomplete()


def write_stream(write: Callable[[int, bytes | memoryview], None], chunks: Iterable[bytes],
                 total: int, progress: ProgressFn) -> int:
    """Write ``chunks`` from offset 0 with ``write(offset, data)``, skipping all-zero runs (the
    target is fresh and reads as zeros there); returns the bytes consumed."""
    offset = 0
    for chunk in chunks:
        view = memoryview(chunk)
        for run in nonzero_runs(view):
            write(offset + run.start, view[run.start : run.stop])
        offset += len(view)
        progress(offset, total)
    return offset


@contextlib.contextmanager
def raw_file(qemu: QemuImg, source: LocalSource, scratch: Path) -> Iterator[str]:
    """``source`` as a raw file: itself when raw, else a converted copy in ``scratch`` that is
    removed afterwards."""
    if source.fmt == "raw":
        yield source.path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="volume-convert.", suffix=".raw", dir=scratch)
    os.close(fd)
    try:
        qemu.convert(source.path, source.fmt, tmp, "raw")
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def require_exists(store: VolumeStore, key: str) -> None:
    if not store.exists(key):
        raise NotFound(f"volume object {key} not found in volume backend {store.name!r}")
