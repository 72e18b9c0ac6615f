"""The one translation of librados/librbd errors into the cowshed error tree."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from cowshed.errors import (
    AlreadyExists,
    BackendUnavailable,
    BackendUnreachable,
    CowshedError,
    Forbidden,
    InUse,
    InvalidRequest,
    NotFound,
    StorageFull,
)

#: errno → (error class, what the client is told).
_BY_ERRNO: dict[int, tuple[type[CowshedError], str]] = {
    errno.ENOENT: (NotFound, "not found"),
    errno.EEXIST: (AlreadyExists, "already exists"),
    errno.EBUSY: (InUse, "in use (clones, watchers or open handles)"),
    errno.ENOTEMPTY: (InUse, "still has snapshots"),
    errno.ENOSPC: (StorageFull, "no space left in Ceph"),
    errno.EDQUOT: (StorageFull, "pool quota exceeded"),
    errno.EFBIG: (StorageFull, "image too large"),
    errno.EPERM: (Forbidden, "permission denied by Ceph"),
    errno.EACCES: (Forbidden, "permission denied by Ceph"),
    errno.EROFS: (Forbidden, "read-only image or snapshot"),
    errno.EINVAL: (InvalidRequest, "invalid argument"),
    errno.ERANGE: (InvalidRequest, "argument out of range"),
    # librados gives up after rados_osd_op_timeout / rados_mon_op_timeout /
    # client_mount_timeout (all set by rados_connect_timeout) when no daemon answers
    errno.ETIMEDOUT: (BackendUnreachable, "Ceph did not answer in time (cluster unreachable?)"),
}


def error_for_errno(code: int, what: str) -> CowshedError:
    """The cowshed error for a librados/librbd errno (positive or negative) while ``what``."""
    code = abs(code)
    cls, reason = _BY_ERRNO.get(code, (BackendUnavailable, ""))
    if not reason:
        reason = f"Ceph error: {errno.errorcode.get(code, str(code))}"
    return cls(f"{what}: {reason}")


def _library_error_types() -> tuple[type[BaseException], ...]:
    """The base error classes of the bindings that are loaded (never imports them)."""
    types: list[type[BaseException]] = []
    for name in ("rados", "rbd"):
        module = sys.modules.get(name)
        base = getattr(module, "Error", None)
        if isinstance(base, type) and issubclass(base, BaseException):
            types.append(base)
    return tuple(types)


def translate(exc: BaseException, what: str) -> CowshedError | None:
    """The cowshed error for a rados/rbd exception, or None if ``exc`` is not one."""
    if not isinstance(exc, _library_error_types()):
        return None
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code:
        return error_for_errno(code, what)
    return BackendUnavailable(f"{what}: Ceph error: {type(exc).__name__}")


@contextmanager
def map_rbd_errors(what: str) -> Iterator[None]:
    """Re-raise rados/rbd exceptions inside the block as cowshed errors (``from`` the original).

    ``what`` names the operation and object for the message, e.g. ``"deleting image 'x'"``.
    Cowshed errors and unrelated exceptions pass through unchanged.
    """
    try:
        yield
    except CowshedError:
        raise
    except Exception as exc:
        mapped = translate(exc, what)
        if mapped is None:
            raise
        raise mapped from exc
