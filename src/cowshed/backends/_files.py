"""File-level helpers of the file backend: reflink, sparse copy, and the in-place Block."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from pathlib import Path
from types import TracebackType
from typing import Self

from cowshed.errors import BackendUnavailable, Forbidden, InvalidRequest, NotFound, StorageFull

#: ioctl FICLONE (linux/fs.h): make ``dst`` share all of ``src``'s blocks (XFS, btrfs, bcachefs).
FICLONE = 0x40049409
#: errnos that mean "this filesystem (or pair of files) cannot reflink", not a failure.
_NO_REFLINK = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EXDEV, errno.ENOSYS}
_COPY_CHUNK = 64 << 20
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def map_os_error(exc: OSError, what: str) -> Exception:
    """Translate one OSError into the cowshed error tree (the file backend's only mapping)."""
    if exc.errno in _FULL_ERRNOS:
        return StorageFull(f"no space left on the file store while {what}")
    if exc.errno == errno.ENOENT:
        return NotFound(f"not found while {what}")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Forbidden(f"the file store denied access while {what}")
    return BackendUnavailable(f"file store I/O error while {what}: {exc.strerror}")


def reflink(src_fd: int, dst_fd: int) -> None:
    """Make ``dst_fd`` share every block of ``src_fd`` (OSError when the filesystem cannot)."""
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def probe_reflink(directory: Path) -> bool:
    """True when files in ``directory`` can be reflinked (tried on two scratch files)."""
    # a name of its own per call: processes starting together probe the same directory
    # (``with_suffix`` would have replaced the token, giving every process the same files)
    stem = f".reflink-probe.{secrets.token_hex(6)}"
    src, dst = directory / f"{stem}.a", directory / f"{stem}.b"
    try:
        src.write_bytes(b"x" * 4096)
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            reflink(fin.fileno(), fout.fileno())
        return True
    except OSError as exc:
        if exc.errno in _NO_REFLINK:
            return False
        raise
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)


def sparse_copy(src_fd: int, dst_fd: int) -> int:
    """Copy ``src_fd`` into the empty ``dst_fd``, data extents only (holes stay holes).

    Uses SEEK_DATA/SEEK_HOLE and ``copy_file_range`` (in-kernel, no Python buffers); returns the
    size, which ``dst_fd`` is truncated to.
    """
    size = os.fstat(src_fd).st_size
    os.ftruncate(dst_fd, size)
    offset = 0
    while offset < size:
        try:
            start = os.lseek(src_fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole remains
                break
            raise
        end = os.lseek(src_fd, start, os.SEEK_HOLE)
        _copy_range(src_fd, dst_fd, start, end)
        offset = end
    return size


def _copy_range(src_fd: int, dst_fd: int, start: int, end: int) -> None:
    pos = start
    while pos < end:
        n = os.copy_file_range(src_fd, dst_fd, min(_COPY_CHUNK, end - pos), pos, pos)
        if n == 0:
            raise OSError(errno.EIO, "copy_file_range copied nothing")
        pos += n


class FileBlock:
    """Random reads and writes of one committed file; the file's size never changes."""

    def __init__(self, path: Path) -> None:
        self._name = path.name
        try:
            self._fd: int | None = os.open(path, os.O_RDWR)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise map_os_error(exc, f"opening {path.name}") from exc

    @property
    def size(self) -> int:
        return self._size

    def _handle(self) -> int:
        if self._fd is None:
            raise InvalidRequest("block handle is closed")
        return self._fd

    def read(self, offset: int, length: int) -> bytes:
        fd = self._handle()
        try:
            return os.pread(fd, max(0, min(length, self._size - offset)), offset)
        except OSError as exc:
            raise map_os_error(exc, f"reading {self._name}") from exc

    def write(self, offset: int, data: bytes | memoryview) -> None:
        fd = self._handle()
        view = memoryview(data)
        if offset < 0 or offset + len(view) > self._size:
            raise InvalidRequest(f"write of {len(view)} bytes at {offset} is outside the object "
                                 f"({self._size} bytes)")
        try:
            while view:
                n = os.pwrite(fd, view, offset)
                view = view[n:]
                offset += n
        except OSError as exc:
            raise map_os_error(exc, f"writing {self._name}") from exc

    def flush(self) -> None:
        try:
            os.fsync(self._handle())
        except OSError as exc:
            raise map_os_error(exc, f"flushing {self._name}") from exc

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            with contextlib.suppress(OSError):
                self.close()
