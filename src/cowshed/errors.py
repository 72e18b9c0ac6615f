"""The one exception tree of cowshed.

Every error that crosses a module border is one of these. Backends translate their library's
errors into this tree in one context manager each; the HTTP layer maps the tree to status codes in
one table (``cowshed.api.errors``). Builtin exceptions are reserved for programming errors.

::

    CowshedError
    ├── NotFound                    the named thing does not exist (404)
    ├── AlreadyExists               a thing with that id/name exists (409)
    ├── Conflict                    the request clashes with current state (409)
    │   ├── InvalidStatusTransition the status compare-and-set failed
    │   ├── InUse                   still needed by a clone, snapshot or import (409)
    │   └── DataDirInUse            another live process owns the data dir (start-up only)
    ├── InvalidRequest              malformed or semantically wrong input (400)
    │   ├── InvalidState            the object's status forbids the operation (Cinder: 400)
    │   ├── SizeMismatch            bytes received differ from the size promised
    │   └── RangeNotSatisfiable     a Range header outside the data (416)
    ├── Unauthorized                no valid credentials: missing, expired, revoked, forged token (401)
    ├── Forbidden                   not allowed: read-only/reserved field, protected image (403)
    ├── UnsupportedMediaType        wrong Content-Type (415)
    ├── UnsafeImage                 image bytes failed format inspection (415)
    │   └── FormatMismatch          data is not the declared disk_format
    ├── UnsupportedOperation        the backend lacks the capability (400)
    ├── StorageFull                 no space left, size cap or quota exceeded (413)
    ├── TooManyRequests             a rate limit (failed logins) was hit (429)
    ├── Gone                        the object vanished while we worked on it (410)
    ├── DataCorrupted               stored bytes do not match their recorded checksum (500)
    ├── BackendUnavailable          the storage backend cannot be reached (503)
    ├── ConfigError                 settings are invalid (startup only)
    └── ExternalToolError           qemu-img or another helper failed or misbehaved (500)
"""

from __future__ import annotations


class CowshedError(Exception):
    """Root of every cowshed error. ``message`` is safe to show to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CowshedError):
    """The named object does not exist (or is not visible to the caller)."""


class AlreadyExists(CowshedError):
    """An object with that identity exists already."""


class Conflict(CowshedError):
    """The request clashes with the object's current state."""


class InvalidStatusTransition(Conflict):
    """A status compare-and-set failed: the object was not in the expected status."""


class InUse(Conflict):
    """The object is still needed (a clone child, a running import) and was left untouched."""


class DataDirInUse(Conflict):
    """Another live process holds the data-dir lock; nothing was touched."""


class InvalidRequest(CowshedError):
    """Malformed or semantically invalid input."""


class InvalidState(InvalidRequest):
    """The object's status (or its snapshots, attachments) forbids the operation.

    Cinder answers these with 400 (InvalidVolume, InvalidSnapshot), including a lost status
    compare-and-set, where Glance uses 409: the volume service raises this one.
    """


class SizeMismatch(InvalidRequest):
    """The number of bytes received differs from the size the client promised."""


class RangeNotSatisfiable(InvalidRequest):
    """A byte range that lies outside the data."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class Unauthorized(CowshedError):
    """The request carries no valid credentials (no, expired, revoked or forged token)."""


class Forbidden(CowshedError):
    """The caller may not do this (read-only or reserved field, protected object)."""


class UnsupportedMediaType(CowshedError):
    """The request body has a media type this endpoint does not accept."""

    def __init__(self, message: str, accept: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.accept = accept


class UnsafeImage(CowshedError):
    """Image bytes failed inspection: a dangerous feature or an unreadable structure."""


class FormatMismatch(UnsafeImage):
    """The data is not in the format the client declared."""


class UnsupportedOperation(CowshedError):
    """The backend does not have the capability the operation needs."""


class StorageFull(CowshedError):
    """No space left on the store, or a size cap or quota would be exceeded."""


class TooManyRequests(CowshedError):
    """A rate limit was hit; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Gone(CowshedError):
    """The object was deleted while the operation ran."""


class BackendUnavailable(CowshedError):
    """The storage backend could not be reached or answered with a transient failure."""


class BackendUnreachable(BackendUnavailable):
    """The backend's service did not answer in time (Ceph down or cut off): nothing is wrong
    with the request or the settings, and the same call succeeds once it is back. Unlike a
    misconfigured store, this never keeps the server from starting."""


class ConfigError(CowshedError):
    """Settings are invalid; raised at start-up."""


class ExternalToolError(CowshedError):
    """An external tool (qemu-img) failed, timed out or produced output we cannot trust."""


class DataCorrupted(CowshedError):
    """Bytes read back from a store do not match the size or checksums recorded for them."""
