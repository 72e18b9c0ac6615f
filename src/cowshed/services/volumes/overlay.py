"""Volumes as qcow2 overlays on a plain file store (no reflink): snapshots and clones for free.

Files (all in the file store's directory, all qcow2, every backing link recorded with ``-F
qcow2`` so nothing is ever probed):

* ``volume-<id>`` — the volume's active layer; standalone, or an overlay on a frozen file;
* ``volume-<id>.<snap>`` — a frozen file: the volume's data when snapshot ``snap`` was taken.

A snapshot hard-links the active layer to its frozen name and publishes a fresh overlay on it as
the active layer (rename: atomic); a clone is an overlay on a frozen file; a revert replaces the
active layer with a fresh overlay on the frozen file; a flatten rewrites the active layer
standalone with ``qemu-img convert``. Every cost but flatten and copy is independent of size.

Deleting a snapshot merges its frozen file into its successor in the volume's own chain with a
safe ``qemu-img rebase`` — only when nothing else reads that successor (no clones on it, volume not
attached); otherwise the store answers InUse and the service keeps the snapshot hidden until it
can go. A frozen file some clone is based on is never touched.

Crash safety: new files are written under ``.incoming/*.part`` (removed by the file store's
``cleanup_incomplete``) and renamed into place; a snapshot cut short between link and rename
leaves a frozen file that is the same inode as the active layer, which :meth:`cleanup` removes.
Operations on one volume hold an ``flock`` on ``.locks/<key>`` (any process on the host).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cowshed.backends.base import Backend, ChildRef, CloneCost, SnapRef
from cowshed.backends.file import FileBackend, create_part
from cowshed.errors import AlreadyExists, InUse, InvalidRequest, NotFound, UnsupportedOperation
from cowshed.formats.qemu_img import QemuImg
from cowshed.services.volumes.stores import (
    LocalSource,
    ProgressFn,
    VolumeStore,
    raw_file,
    write_stream,
)

QCOW2 = "qcow2"
_MAGIC = b"QFI\xfb"


def backing_of(path: Path) -> str | None:
    """The backing file named in a qcow2 header we wrote (None: standalone).

    Read from our own files' headers, not guessed from their data: the header is metadata a
    guest cannot write, and the format of every file here is known (qcow2).
    """
    with open(path, "rb") as fh:
        header = fh.read(20)
        if len(header) < 20 or header[:4] != _MAGIC:
            raise InvalidRequest(f"{path.name} is not one of our qcow2 volume files")
        offset, length = struct.unpack(">QI", header[8:20])
        if offset == 0 or length == 0:
            return None
        fh.seek(offset)
        return fh.read(length).decode()


class OverlayStore:
    """A :class:`~cowshed.services.volumes.stores.VolumeStore` of qcow2 overlays."""

    disk_format = QCOW2
    #: the hypervisor writes into the active file, which a snapshot renames: refused.
    snapshot_while_attached = False

    def __init__(self, name: str, backend: FileBackend, qemu: QemuImg, scratch: Path) -> None:
        self.name = name
        self.backend = backend
        self.root = backend.root
        self._qemu = qemu
        self._scratch = scratch
        (self.root / ".locks").mkdir(exist_ok=True)

    @property
    def fast_clone(self) -> bool:
        return True

    @property
    def clones_depend(self) -> bool:
        return True

    @property
    def clone_cost(self) -> CloneCost:
        return CloneCost.CONSTANT

    @property
    def space(self) -> str:
        return str(self.root)

    # -- files ----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        path = self.backend.local_path(key)
        assert path is not None
        return Path(path)

    def _frozen(self, key: str, snap: str) -> Path:
        return self._path(f"{key}.{snap}")

    def _own_frozen(self, key: str) -> list[Path]:
        """The volume's frozen files, oldest first."""
        prefix = f"{key}."
        found = [p for p in self.root.iterdir() if p.name.startswith(prefix) and p.is_file()]
        return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def _publish(self, tmp: Path, target: Path) -> None:
        """fsync ``tmp`` and rename it over ``target`` (atomic); fsync the directory."""
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, target)
            dfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _building(self, key: str) -> Iterator[Path]:
        """A temporary path for a new file that is removed unless the block published it.

        The file is created empty and ``flock``-ed for the whole block (qemu-img writes into
        the same inode): the sweeps of every process (``cleanup``) remove only ``.part`` files
        whose writer is gone, never one another process is building right now."""
        tmp, fd = create_part(self.backend, key)
        try:
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)
            os.close(fd)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with open(self.root / ".locks" / key, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _require(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"volume object {key} not found in volume backend {self.name!r}")
        return path

    def _new_file(self, key: str, *, replace: bool = False) -> Path:
        target = self._path(key)
        if not replace and target.exists():
            raise AlreadyExists(f"object {key} exists in volume backend {self.name!r}")
        return target

    # -- objects --------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._qemu.info(self._require(key), QCOW2).virtual_size

    def keys(self) -> list[str]:
        return list(self.backend.keys())

    def create(self, key: str, size: int) -> None:
        target = self._new_file(key)
        with self._building(key) as tmp:
            self._qemu.create(tmp, QCOW2, size)
            self._publish(tmp, target)

    def create_from_file(self, key: str, size: int, source: LocalSource,
                         progress: ProgressFn) -> None:
        target = self._new_file(key)
        with self._building(key) as tmp:
            self._qemu.convert(source.path, source.fmt, tmp, QCOW2)
            if self._qemu.info(tmp, QCOW2).virtual_size < size:
                self._qemu.resize(tmp, QCOW2, size)
            self._publish(tmp, target)
        progress(size, size)

    def create_from_stream(self, key: str, size: int, chunks: Iterable[bytes], total: int,
                           progress: ProgressFn) -> None:
        """Raw bytes land in a sparse scratch file, then become a qcow2 volume."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        scratch = self._scratch / f"volume-stream.{secrets.token_hex(6)}.raw"
        try:
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                def write(offset: int, data: bytes | memoryview) -> None:
                    os.pwrite(fd, data, offset)
                written = write_stream(write, chunks, total, progress)
                os.ftruncate(fd, written)
            finally:
                os.close(fd)
            self.create_from_file(key, size, LocalSource(str(scratch), "raw"), progress)
        finally:
            scratch.unlink(missing_ok=True)

    def copy(self, src_key: str, dst_key: str) -> None:
        source = self._require(src_key)
        target = self._new_file(dst_key)
        with self._building(dst_key) as tmp:
            self._qemu.convert(source, QCOW2, tmp, QCOW2)
            self._publish(tmp, target)

    def delete(self, key: str) -> None:
        """The active layer and every frozen file; InUse if a clone reads a frozen file.
        NotFound for a volume that never got its file (a failed create); its lock file, made
        by taking the lock, goes either way."""
        try:
            self._delete(key)
        except NotFound:
            (self.root / ".locks" / key).unlink(missing_ok=True)
            raise
        (self.root / ".locks" / key).unlink(missing_ok=True)

    def _delete(self, key: str) -> None:
        with self._lock(key):
            active = self._require(key)
            own = self._own_frozen(key)
            mine = {str(active), *map(str, own)}
            for frozen in own:
                if self._readers(frozen, exclude=mine):
                    raise InUse(f"snapshot file {frozen.name} has clones")
            for frozen in own:  # the active file last: a crash leaves it to retry with
                frozen.unlink(missing_ok=True)
            active.unlink()

    # -- snapshots ------------------------------------------------------------------------------

    def snapshot(self, key: str, snap: str) -> None:
        with self._lock(key):
            active = self._require(key)
            frozen = self._frozen(key, snap)
            if frozen.exists():
                raise AlreadyExists(f"snapshot {key}@{snap} exists")
            os.link(active, frozen)
            try:
                self._overlay_as(key, frozen)
            except BaseException:
                frozen.unlink(missing_ok=True)
                raise

    def _overlay_as(self, key: str, backing: Path) -> None:
        """Publish a fresh, empty overlay on ``backing`` as ``key``'s active layer."""
        with self._building(key) as tmp:
            self._qemu.create_overlay(tmp, backing, QCOW2)
            self._publish(tmp, self._path(key))

    def delete_snapshot(self, key: str, snap: str, *, live: bool) -> None:
        with self._lock(key):
            frozen = self._frozen(key, snap)
            if not frozen.is_file():
                raise NotFound(f"snapshot {key}@{snap} not found in volume backend {self.name!r}")
            chain = self._chain(key)
            mine = {str(p) for p in chain} | {str(p) for p in self._own_frozen(key)}
            if self._readers(frozen, exclude=mine):
                raise InUse(f"snapshot {key}@{snap} has clones")
            successor = next((p for p in chain if backing_of(p) == str(frozen)), None)
            if successor is not None:
                self._merge_into(successor, frozen, live=live, mine=mine)
            frozen.unlink()

    def _merge_into(self, successor: Path, frozen: Path, *, live: bool, mine: set[str]) -> None:
        """Rebase ``successor`` past ``frozen`` (guest view unchanged), if nobody reads it."""
        if live or self._readers(successor, exclude=mine):
            raise InUse(f"{frozen.name} is in use by {successor.name}")
        below = backing_of(frozen)
        self._qemu.rebase(successor, QCOW2, below, QCOW2 if below else None)

    def _chain(self, key: str) -> list[Path]:
        """The active layer and the volume's own frozen files below it, top first."""
        own = {str(p) for p in self._own_frozen(key)}
        chain = [self._require(key)]
        while (below := backing_of(chain[-1])) is not None and below in own:
            chain.append(Path(below))
        return chain

    def _readers(self, path: Path, *, exclude: set[str]) -> list[Path]:
        """Files in this store whose backing file is ``path`` (clones), except ``exclude``."""
        target = str(path)
        out = []
        for candidate in self.root.iterdir():
            if not candidate.is_file() or str(candidate) in exclude:
                continue
            with contextlib.suppress(InvalidRequest, OSError):
                if backing_of(candidate) == target:
                    out.append(candidate)
        return out

    def snapshots(self, key: str) -> list[str]:
        self._require(key)
        prefix = len(key) + 1
        return [p.name[prefix:] for p in self._own_frozen(key)]

    def revert(self, key: str, snap: str) -> None:
        with self._lock(key):
            self._require(key)
            frozen = self._frozen(key, snap)
            if not frozen.is_file():
                raise NotFound(f"snapshot {key}@{snap} not found in volume backend {self.name!r}")
            self._overlay_as(key, frozen)

    # -- clones ---------------------------------------------------------------------------------

    def can_clone_from(self, other: VolumeStore | Backend) -> bool:
        return isinstance(other, OverlayStore)

    def clone(self, source: VolumeStore | Backend, key: str, snap: str, dst_key: str) -> None:
        if not isinstance(source, OverlayStore):
            raise UnsupportedOperation(f"volume backend {self.name!r} cannot clone from "
                                       f"{getattr(source, 'name', source)!r}")
        frozen = source._frozen(key, snap)
        if not frozen.is_file():
            raise NotFound(f"snapshot {key}@{snap} not found in volume backend {source.name!r}")
        target = self._new_file(dst_key)
        with self._building(dst_key) as tmp:
            self._qemu.create_overlay(tmp, frozen, QCOW2)
            self._publish(tmp, target)

    def parent(self, key: str) -> SnapRef | None:
        """The frozen file of another volume this one's chain rests on (None: standalone)."""
        with self._lock(key):
            chain = self._chain(key)
        below = backing_of(chain[-1])
        if below is None:
            return None
        path = Path(below)
        owner, _, snap = path.name.partition(".")
        return SnapRef(str(path.parent), owner, snap)

    def children(self, key: str, snap: str) -> list[ChildRef]:
        frozen = self._frozen(key, snap)
        if not frozen.is_file():
            raise NotFound(f"snapshot {key}@{snap} not found in volume backend {self.name!r}")
        mine = {str(p) for p in self._chain(key)} | {str(p) for p in self._own_frozen(key)}
        return [ChildRef(self.space, p.name) for p in self._readers(frozen, exclude=mine)]

    def flatten(self, key: str) -> None:
        """Rewrite the active layer standalone (the volume's frozen files stay as they are)."""
        with self._lock(key):
            active = self._require(key)
            if backing_of(active) is None:
                return
            with self._building(key) as tmp:
                self._qemu.convert(active, QCOW2, tmp, QCOW2)
                self._publish(tmp, active)

    def extend(self, key: str, size: int) -> None:
        with self._lock(key):
            path = self._require(key)
            current = self._qemu.info(path, QCOW2).virtual_size
            if size < current:
                raise InvalidRequest(f"cannot shrink {key} from {current} to {size} bytes")
            if size > current:
                self._qemu.resize(path, QCOW2, size)

    # -- data out, attach, recovery -------------------------------------------------------------

    def local_source(self, key: str, snap: str | None = None) -> LocalSource:
        path = self._require(key) if snap is None else self._frozen(key, snap)
        if not path.is_file():
            raise NotFound(f"snapshot {key}@{snap} not found in volume backend {self.name!r}")
        return LocalSource(str(path), QCOW2)

    def read_raw(self, key: str, snap: str | None = None) -> Iterator[bytes]:
        """The guest data, converted to raw in a scratch file that goes once read."""
        source = self.local_source(key, snap)

        def chunks() -> Iterator[bytes]:
            with raw_file(self._qemu, source, self._scratch) as raw, \
                    open(raw, "rb", buffering=0) as fh:
                yield from iter(lambda: fh.read(8 << 20), b"")
        return chunks()

    def attach_info(self, key: str) -> dict[str, Any]:
        path = self._require(key)
        return {"driver_volume_type": "file",
                "data": {"path": str(path), "name": key, "format": QCOW2}}

    def cleanup(self) -> int:
        """Incomplete writes, and frozen files of snapshots cut short (same inode as the
        active layer: the overlay never replaced it)."""
        removed = self.backend.cleanup_incomplete()
        for path in list(self.root.iterdir()):
            key, dot, _ = path.name.partition(".")
            if not dot or not path.is_file() or not self._same_file(self.root / key, path):
                continue
            # judged again under the volume's lock: a snapshot being taken right now (in any
            # process of this host) holds it between its link and its rename
            with self._lock(key), contextlib.suppress(FileNotFoundError):
                if self._same_file(self.root / key, path):
                    path.unlink()
                    removed += 1
        return removed

    @staticmethod
    def _same_file(active: Path, path: Path) -> bool:
        try:
            return active.is_file() and os.path.samefile(active, path)
        except FileNotFoundError:
            return False
