"""Local-directory backend: the embedded default.

Layout under ``data_dir``: committed objects are ``<key>``; writes in progress are
``.incoming/<key>.<random>.part``. A write is published by fsync + rename + fsync of the
directory, so after a crash an object is either whole under its key or only a ``.part`` file that
:meth:`FileBackend.cleanup_incomplete` removes. All-zero regions become holes (thin).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cowshed.backends._options import parse_options
from cowshed.backends._zeros import nonzero_runs
from cowshed.backends.base import Capabilities, ObjectInfo, StoredObject
from cowshed.errors import (
    AlreadyExists,
    BackendUnavailable,
    Forbidden,
    InvalidRequest,
    NotFound,
    StorageFull,
    UnsupportedOperation,
)

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_INCOMING = ".incoming"
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


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


def map_os_error(exc: OSError, what: str) -> Exception:
    """Translate one OSError into the cowshed error tree (the file backend's only mapping)."""
    if exc.errno in _FULL_ERRNOS:
        return StorageFull(f"no space left on the file store while {what}")
    if exc.errno == errno.ENOENT:
        return NotFound(f"not found while {what}")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Forbidden(f"the file store denied access while {what}")
    return BackendUnavailable(f"file store I/O error while {what}: {exc.strerror}")


class _FileWriter:
    def __init__(self, backend: FileBackend, key: str, part: Path, thin: bool) -> None:
        self._backend = backend
        self._key = key
        self._part = part
        self._thin = thin
        self._pos = 0
        self._fd: int | None = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

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
        target = self._backend._path(self._key)
        try:
            os.ftruncate(fd, self._pos)
            os.fsync(fd)
            os.close(fd)
            perm = self._backend.config.filesystem_store_file_perm
            if perm:
                os.chmod(self._part, perm)
            if target.exists():
                raise AlreadyExists(f"object {self._key} exists in store {self._backend.name!r}")
            os.rename(self._part, target)
            self._backend._fsync_dir(target.parent)
        except OSError as exc:
            self._discard()
            raise map_os_error(exc, f"committing {self._key}") from exc
        except AlreadyExists:
            self._discard()
            raise
        return StoredObject(key=self._key, size=self._pos, location=self._backend.location(self._key))

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._part.unlink()


class FileBackend:
    """Objects are files in one directory; published by rename."""

    kind = "file"

    def __init__(self, name: str, config: FileConfig) -> None:
        self.name = name
        self.config = config
        self.root = Path(config.filesystem_store_datadir).absolute()
        try:
            (self.root / _INCOMING).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise map_os_error(exc, f"creating {self.root}") from exc
        self.capabilities = Capabilities(
            random_read=True, local_files=True, thin=config.filesystem_thin_provisioning,
            snapshots=False, clone=False, flatten=False, resize=True, shared_across_nodes=False,
        )

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, object]) -> FileBackend:
        return cls(name, parse_options(name, FileConfig, options))

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise InvalidRequest(f"invalid object key {key!r}")
        return self.root / key

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def open_writer(self, key: str, size_hint: int | None) -> _FileWriter:
        if self._path(key).exists():
            raise AlreadyExists(f"object {key} exists in store {self.name!r}")
        part = self.root / _INCOMING / f"{key}.{secrets.token_hex(6)}.part"
        try:
            return _FileWriter(self, key, part, self.config.filesystem_thin_provisioning)
        except OSError as exc:
            raise map_os_error(exc, f"creating {key}") from exc

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise map_os_error(exc, f"opening {key}") from exc
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
        try:
            self._path(key).unlink()
        except OSError as exc:
            raise map_os_error(exc, f"deleting {key}") from exc

    def location(self, key: str) -> str:
        return self._path(key).as_uri()

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    def keys(self) -> Iterator[str]:
        return (p.name for p in self.root.iterdir() if p.is_file() and _KEY.match(p.name))

    def cleanup_incomplete(self) -> int:
        removed = 0
        for part in (self.root / _INCOMING).glob("*.part"):
            part.unlink(missing_ok=True)
            removed += 1
        return removed

    def describe(self) -> Mapping[str, object]:
        return {
            "data_dir": str(self.root),
            "chunk_size": self.config.filesystem_store_chunk_size,
            "thin_provisioning": self.config.filesystem_thin_provisioning,
        }

    def close(self) -> None:
        return None

    def resize(self, key: str, size: int) -> None:
        try:
            os.truncate(self._path(key), size)
        except OSError as exc:
            raise map_os_error(exc, f"resizing {key}") from exc

    def _unsupported(self, what: str) -> UnsupportedOperation:
        return UnsupportedOperation(f"store {self.name!r} (file) does not support {what}")

    def create_snapshot(self, key: str, snap: str) -> None:
        raise self._unsupported("snapshots")

    def delete_snapshot(self, key: str, snap: str) -> None:
        raise self._unsupported("snapshots")

    def clone(self, src_key: str, snap: str, dst_key: str) -> StoredObject:
        raise self._unsupported("clones")

    def flatten(self, key: str) -> None:
        raise self._unsupported("flatten")
