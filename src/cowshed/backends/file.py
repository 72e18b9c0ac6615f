"""Local-directory backend: the embedded default.

Layout under ``data_dir``: committed objects are ``<key>``; writes in progress (and creates,
copies, snapshots before publication) are ``.incoming/<key>.<random>.part``. An object is
published by fsync + hard link to the key (which never replaces an existing object) + unlink +
fsync of the directory, so after a crash it is either whole under its key or only a ``.part``
file that :meth:`FileBackend.cleanup_incomplete` removes. All-zero regions become holes (thin).

Where the filesystem can reflink (XFS, btrfs: probed at start-up), copies share blocks and the
backend offers snapshots and clones: a snapshot is a reflinked file ``.snaps/<key>/<snap>``, a
clone a reflinked copy of one. Both cost the same at any size and are independent of their
source at once (``clones_depend_on_parent`` is False). Without reflink a file store has neither;
the volume service then builds snapshots and clones from qcow2 overlays on top of these files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cowshed.backends._files import FileBlock, map_os_error, probe_reflink, reflink, sparse_copy
from cowshed.backends._options import parse_options
from cowshed.backends._zeros import nonzero_runs
from cowshed.backends.base import (
    AttachInfo,
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
    InvalidRequest,
    NotFound,
    UnsupportedOperation,
)

__all__ = ["FileBackend", "FileConfig", "map_os_error"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_INCOMING = ".incoming"
_SNAPS = ".snaps"


@dataclass(frozen=True)
class FileConfig:
    """Options of a file store (names follow glance_store's filesystem driver)."""

    #: directory holding the objects; created if missing.
    filesystem_store_datadir: str
    #: read size for downloads that cannot use sendfile, in bytes.
    filesystem_store_chunk_size: int = 1 << 20
    #: write all-zero regions as holes.
    filesystem_thin_provisioning: bool = True
    #: permission bits of committed files (0 keeps the process umask).
    filesystem_store_file_perm: int = 0

    def __post_init__(self) -> None:
        if self.filesystem_store_chunk_size < 4096:
            raise ValueError("filesystem_store_chunk_size must be at least 4096")


class _Fill(Protocol):
    def __call__(self, fd: int) -> int: ...


def link_new(part: Path, target: Path, store: str) -> None:
    """Give the finished ``part`` file the name ``target``, never replacing an object there.

    ``link`` fails with EEXIST atomically (a check then ``rename`` would silently replace an
    object published in between); a crash after the link leaves a ``.part`` file that
    ``cleanup_incomplete`` removes, and the object whole.
    """
    try:
        os.link(part, target)
    except FileExistsError:
        raise AlreadyExists(f"object {target.name} exists in store {store!r}") from None
    part.unlink()


def create_part(backend: FileBackend, key: str) -> tuple[Path, int]:
    """Create a new ``.part`` file for ``key`` and ``flock`` it: the lock, held until the file
    is published or dropped, tells :meth:`FileBackend.cleanup_incomplete` of every process that
    its writer lives (the kernel drops it when the writer dies, SIGKILL included).

    A sweep that locked and removed the file between our create and our lock would leave us
    writing an unlinked file: then the link count is 0 and we start again with a new name.
    """
    while True:
        part = backend._part(key)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return part, fd
        os.close(fd)


class _FileWriter:
    def __init__(self, backend: FileBackend, key: str, thin: bool) -> None:
        self._backend = backend
        self._key = key
        self._thin = thin
        self._pos = 0
        self._part, fd = create_part(backend, key)
        self._fd: int | None = fd

    def write(self, data: bytes | memoryview) -> None:
        if self._fd is None:
            raise InvalidRequest("write after commit or abort")
        view = memoryview(data)
        try:
            if self._thin:
                self._write_thin(self._fd, view)
            else:
                self._write_all(self._fd, view, self._pos)
        except OSError as exc:
            raise map_os_error(exc, f"writing {self._key}") from exc
        self._pos += len(view)

    def _write_thin(self, fd: int, view: memoryview) -> None:
        for run in nonzero_runs(view):
            self._write_all(fd, view[run.start : run.stop], self._pos + run.start)

    @staticmethod
    def _write_all(fd: int, view: memoryview, offset: int) -> None:
        while view:
            n = os.pwrite(fd, view, offset)
            view = view[n:]
            offset += n

    def commit(self) -> StoredObject:
        if self._fd is None:
            raise InvalidRequest("commit after commit or abort")
        fd, self._fd = self._fd, None
        try:
            try:
                os.ftruncate(fd, self._pos)
                os.fsync(fd)
                os.fchmod(fd, self._backend.file_mode())
                # published while still locked: a sweep never takes a part being published
                self._publish(self._backend._path(self._key))
            finally:
                os.close(fd)  # also when a step failed: the descriptor is ours to close
        except OSError as exc:
            self._discard()
            raise map_os_error(exc, f"committing {self._key}") from exc
        except AlreadyExists:
            self._discard()
            raise
        return StoredObject(key=self._key, size=self._pos, location=self._backend.location(self._key))

    def _publish(self, target: Path) -> None:
        link_new(self._part, target, self._backend.name)
        self._backend._fsync_dir(target.parent)

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._part.unlink()


class FileBackend:
    """Objects are files in one directory; published by link (see :func:`link_new`)."""

    kind = "file"

    def __init__(self, name: str, config: FileConfig) -> None:
        self.name = name
        self.config = config
        self.root = Path(config.filesystem_store_datadir).absolute()
        try:
            (self.root / _INCOMING).mkdir(parents=True, exist_ok=True)
            can_reflink = probe_reflink(self.root / _INCOMING)
        except OSError as exc:
            raise map_os_error(exc, f"creating {self.root}") from exc
        self.space = str(self.root)
        self.capabilities = Capabilities(
            random_read=True, local_files=True, thin=config.filesystem_thin_provisioning,
            snapshots=can_reflink, clone=can_reflink, flatten=False, extend=True,
            shared_across_nodes=False, reflink=can_reflink, attach=True,
            clone_cost=CloneCost.CONSTANT, clones_depend_on_parent=False,
        )

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, object]) -> FileBackend:
        return cls(name, parse_options(name, FileConfig, options))

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise InvalidRequest(f"invalid object key {key!r}")
        return self.root / key

    def _snap_path(self, key: str, snap: str) -> Path:
        if not _KEY.match(snap):
            raise InvalidRequest(f"invalid snapshot name {snap!r}")
        return self.root / _SNAPS / self._path(key).name / snap

    def _part(self, key: str) -> Path:
        return self.root / _INCOMING / f"{key}.{secrets.token_hex(6)}.part"

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def file_mode(self) -> int:
        """Mode of committed files: ``filesystem_store_file_perm``, or with 0 what a plain
        ``open()`` would give (0666 less the umask). Partial files stay 0600 until then."""
        perm = self.config.filesystem_store_file_perm
        return perm if perm else 0o666 & ~process_umask()

    def _publish(self, part: Path, target: Path, *, replace: bool = False) -> None:
        """fsync ``part`` and publish it as ``target``: renamed over it when ``replace``, else
        linked (AlreadyExists if ``target`` exists, see :func:`link_new`)."""
        try:
            fd = os.open(part, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(part, self.file_mode())
            target.parent.mkdir(parents=True, exist_ok=True)
            if replace:
                os.rename(part, target)
            else:
                link_new(part, target, self.name)
            self._fsync_dir(target.parent)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def _make(self, key: str, target: Path, fill: _Fill, *, replace: bool = False) -> int:
        """Create a part file, let ``fill`` write it, publish it as ``target``; its size."""
        if not replace and target.exists():
            raise AlreadyExists(f"object {target.name} exists in store {self.name!r}")
        part, fd = create_part(self, key)
        try:
            try:
                size = fill(fd)
                self._publish(part, target, replace=replace)  # still locked (create_part)
            finally:
                os.close(fd)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise map_os_error(exc, f"writing {target.name}") from exc
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return size

    def _copy_from(self, source: Path) -> _Fill:
        """A fill that reflinks (or sparse-copies) ``source``."""
        def fill(fd: int) -> int:
            src_fd = os.open(source, os.O_RDONLY)
            try:
                if self.capabilities.reflink:
                    reflink(src_fd, fd)
                    return os.fstat(fd).st_size
                return sparse_copy(src_fd, fd)
            finally:
                os.close(src_fd)
        return fill

    def _stored(self, key: str, size: int) -> StoredObject:
        return StoredObject(key=key, size=size, location=self.location(key))

    # -- core -----------------------------------------------------------------------------------

    def open_writer(self, key: str, size_hint: int | None) -> _FileWriter:
        if self._path(key).exists():
            raise AlreadyExists(f"object {key} exists in store {self.name!r}")
        try:
            return _FileWriter(self, key, self.config.filesystem_thin_provisioning)
        except OSError as exc:
            raise map_os_error(exc, f"creating {key}") from exc

    def create(self, key: str, size: int) -> StoredObject:
        if size < 0:
            raise InvalidRequest("size must not be negative")

        def fill(fd: int) -> int:
            os.ftruncate(fd, size)
            return size
        return self._stored(key, self._make(key, self._path(key), fill))

    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        source = self._path(src_key)
        if not source.is_file():
            raise NotFound(f"object {src_key} not found in store {self.name!r}")
        return self._stored(dst_key, self._make(dst_key, self._path(dst_key),
                                                self._copy_from(source)))

    def open_block(self, key: str) -> FileBlock:
        return FileBlock(self._path(key))

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self._open_path(self._path(key), offset, length)

    def _open_path(self, path: Path, offset: int, length: int | None) -> Iterator[bytes]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise map_os_error(exc, f"opening {path.name}") from exc
        return self._reader(fd, offset, length)

    def _reader(self, fd: int, offset: int, length: int | None) -> Iterator[bytes]:
        chunk = self.config.filesystem_store_chunk_size
        try:
            remaining = os.fstat(fd).st_size - offset if length is None else length
            while remaining > 0:
                data = os.pread(fd, min(chunk, remaining), offset)
                if not data:
                    return
                offset += len(data)
                remaining -= len(data)
                yield data
        finally:
            os.close(fd)

    def stat(self, key: str) -> ObjectInfo:
        try:
            st = self._path(key).stat()
        except OSError as exc:
            raise map_os_error(exc, f"stat of {key}") from exc
        return ObjectInfo(key=key, size=st.st_size, allocated=st.st_blocks * 512)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove ``key`` and its snapshots (reflinked snapshots never have dependants)."""
        path = self._path(key)
        try:
            path.unlink()
        except OSError as exc:
            raise map_os_error(exc, f"deleting {key}") from exc
        snaps = self.root / _SNAPS / key
        if snaps.is_dir():
            for snap in snaps.iterdir():
                snap.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                snaps.rmdir()

    def location(self, key: str) -> str:
        return self._path(key).as_uri()

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    def keys(self) -> Iterator[str]:
        return (p.name for p in self.root.iterdir() if p.is_file() and _KEY.match(p.name))

    def cleanup_incomplete(self) -> int:
        """Remove the ``.part`` files of writers that are gone: a live writer (in any process)
        holds its file's ``flock`` (see :func:`create_part`), so only unlocked files go."""
        removed = 0
        for part in (self.root / _INCOMING).glob("*.part"):
            try:
                fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # its writer is alive
            try:
                part.unlink(missing_ok=True)  # under our lock: no writer can take it now
                removed += 1
            finally:
                os.close(fd)
        return removed

    def describe(self) -> Mapping[str, object]:
        return {
            "data_dir": str(self.root),
            "chunk_size": self.config.filesystem_store_chunk_size,
            "thin_provisioning": self.config.filesystem_thin_provisioning,
        }

    def capacity(self) -> Capacity:
        try:
            st = os.statvfs(self.root)
        except OSError:
            return Capacity(None, None)
        return Capacity(total_bytes=st.f_blocks * st.f_frsize, free_bytes=st.f_bavail * st.f_frsize)

    def close(self) -> None:
        return None

    # -- extend and attach ----------------------------------------------------------------------

    def extend(self, key: str, size: int) -> None:
        path = self._path(key)
        current = self.stat(key).size
        if size < current:
            raise InvalidRequest(f"cannot shrink {key} from {current} to {size} bytes")
        try:
            os.truncate(path, size)
        except OSError as exc:
            raise map_os_error(exc, f"extending {key}") from exc

    def attach_info(self, key: str) -> AttachInfo:
        if not self.exists(key):
            raise NotFound(f"object {key} not found in store {self.name!r}")
        return AttachInfo("file", {"path": str(self._path(key)), "format": "raw"})

    # -- snapshots and clones (reflink only) ----------------------------------------------------

    def _reflink_only(self, what: str) -> None:
        if not self.capabilities.reflink:
            raise UnsupportedOperation(
                f"store {self.name!r} (file) supports {what} only on a filesystem with reflink"
            )

    def create_snapshot(self, key: str, snap: str) -> None:
        self._reflink_only("snapshots")
        source = self._path(key)
        if not source.is_file():
            raise NotFound(f"object {key} not found in store {self.name!r}")
        target = self._snap_path(key, snap)
        if target.exists():
            raise AlreadyExists(f"snapshot {key}@{snap} exists")
        self._make(key, target, self._copy_from(source))

    def delete_snapshot(self, key: str, snap: str) -> None:
        self._reflink_only("snapshots")
        try:
            self._snap_path(key, snap).unlink()
        except OSError as exc:
            raise map_os_error(exc, f"deleting snapshot {key}@{snap}") from exc

    def list_snapshots(self, key: str) -> list[str]:
        self._reflink_only("snapshots")
        if not self._path(key).is_file():
            raise NotFound(f"object {key} not found in store {self.name!r}")
        folder = self.root / _SNAPS / key
        if not folder.is_dir():
            return []
        found = [(p.stat().st_mtime_ns, p.name) for p in folder.iterdir() if _KEY.match(p.name)]
        return [name for _, name in sorted(found)]

    def open_snapshot_read(
        self, key: str, snap: str, offset: int = 0, length: int | None = None,
    ) -> Iterator[bytes]:
        self._reflink_only("snapshots")
        return self._open_path(self._snap_path(key, snap), offset, length)

    def revert_snapshot(self, key: str, snap: str) -> None:
        self._reflink_only("snapshots")
        source = self._snap_path(key, snap)
        if not source.is_file() or not self._path(key).is_file():
            raise NotFound(f"snapshot {key}@{snap} not found in store {self.name!r}")
        self._make(key, self._path(key), self._copy_from(source), replace=True)

    def can_clone_from(self, source: Backend) -> bool:
        if not (self.capabilities.reflink and isinstance(source, FileBackend)):
            return False
        return source.capabilities.reflink and source.root.stat().st_dev == self.root.stat().st_dev

    def clone(self, src_key: str, snap: str, dst_key: str, *,
              source: Backend | None = None) -> StoredObject:
        self._reflink_only("clones")
        origin = self if source is None else source
        if not isinstance(origin, FileBackend) or not self.can_clone_from(origin):
            raise UnsupportedOperation(f"store {self.name!r} cannot clone from {origin.name!r}")
        snap_file = origin._snap_path(src_key, snap)
        if not snap_file.is_file():
            raise NotFound(f"snapshot {src_key}@{snap} not found in store {origin.name!r}")
        size = self._make(dst_key, self._path(dst_key), self._copy_from(snap_file))
        return self._stored(dst_key, size)

    def parent(self, key: str) -> SnapRef | None:
        """Reflinked clones share blocks but depend on nothing."""
        if not self._path(key).is_file():
            raise NotFound(f"object {key} not found in store {self.name!r}")
        return None

    def children(self, key: str, snap: str) -> list[ChildRef]:
        return []

    def flatten(self, key: str) -> None:
        if not self._path(key).is_file():
            raise NotFound(f"object {key} not found in store {self.name!r}")


def process_umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only set it, which would
    race with other threads creating files); /proc/self/status has it since Linux 4.7."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)  # fallback: set and restore at once
    os.umask(current)
    return current
