"""cowshed: the storage half of a VM cloud, as a library.

The public API is what ``__all__`` lists (a test pins it). Names are imported on first use, so
``import cowshed.errors`` or ``import cowshed.formats`` does not pull in the database layer::

    from cowshed import load_settings, open_services

    services = open_services(load_settings(data_dir="/var/lib/cowshed"))
    try:
        admin = services.admin_context()  # who is asking: see cowshed.RequestContext
        image = services.images.create(
            admin, {"name": "cirros", "disk_format": "qcow2", "container_format": "bare"}
        )
        print(services.images.get(admin, image.id).status)  # queued
    finally:
        services.close()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cowshed.backends.base import Backend, Capabilities, ObjectInfo, StoredObject
    from cowshed.backends.registry import KNOWN_BACKENDS, load_backend
    from cowshed.config import Settings, StoreSettings, load_settings
    from cowshed.domain.context import RequestContext, local_admin
    from cowshed.domain.images import Image, ImageStatus, Visibility
    from cowshed.domain.volumes import Snapshot, SnapshotStatus, Volume, VolumeStatus
    from cowshed.errors import (
        AlreadyExists,
        BackendUnavailable,
        BackendUnreachable,
        ConfigError,
        Conflict,
        CowshedError,
        DataCorrupted,
        DataDirInUse,
        ExternalToolError,
        Forbidden,
        FormatMismatch,
        Gone,
        InUse,
        InvalidRequest,
        InvalidState,
        InvalidStatusTransition,
        NotFound,
        RangeNotSatisfiable,
        SizeMismatch,
        StorageFull,
        TooManyRequests,
        Unauthorized,
        UnsafeImage,
        UnsupportedMediaType,
        UnsupportedOperation,
    )
    from cowshed.services.app import Services, open_services

__version__: str  # read on first use (see __getattr__)


def _version() -> str:
    """The installed distribution's version (read on first use: importlib.metadata costs tens
    of milliseconds at every ``cowshed`` start otherwise)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cowshed")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0+unknown"

_ERRORS = (
    "AlreadyExists", "BackendUnavailable", "BackendUnreachable", "ConfigError", "Conflict",
    "CowshedError",
    "DataCorrupted", "DataDirInUse", "ExternalToolError", "Forbidden", "FormatMismatch", "Gone",
    "InUse", "InvalidRequest", "InvalidState", "InvalidStatusTransition", "NotFound",
    "RangeNotSatisfiable", "SizeMismatch", "StorageFull", "TooManyRequests", "Unauthorized",
    "UnsafeImage", "UnsupportedMediaType", "UnsupportedOperation",
)

#: public name → the module that defines it.
_SOURCES: dict[str, str] = {
    "Settings": "cowshed.config",
    "StoreSettings": "cowshed.config",
    "load_settings": "cowshed.config",
    "Services": "cowshed.services.app",
    "open_services": "cowshed.services.app",
    "Image": "cowshed.domain.images",
    "RequestContext": "cowshed.domain.context",
    "local_admin": "cowshed.domain.context",
    "ImageStatus": "cowshed.domain.images",
    "Visibility": "cowshed.domain.images",
    "Volume": "cowshed.domain.volumes",
    "VolumeStatus": "cowshed.domain.volumes",
    "Snapshot": "cowshed.domain.volumes",
    "SnapshotStatus": "cowshed.domain.volumes",
    "Backend": "cowshed.backends.base",
    "Capabilities": "cowshed.backends.base",
    "ObjectInfo": "cowshed.backends.base",
    "StoredObject": "cowshed.backends.base",
    "KNOWN_BACKENDS": "cowshed.backends.registry",
    "load_backend": "cowshed.backends.registry",
    **dict.fromkeys(_ERRORS, "cowshed.errors"),
}

__all__ = [
    "KNOWN_BACKENDS",
    "AlreadyExists",
    "Backend",
    "BackendUnavailable",
    "BackendUnreachable",
    "Capabilities",
    "ConfigError",
    "Conflict",
    "CowshedError",
    "DataCorrupted",
    "DataDirInUse",
    "ExternalToolError",
    "Forbidden",
    "FormatMismatch",
    "Gone",
    "Image",
    "ImageStatus",
    "InUse",
    "InvalidRequest",
    "InvalidState",
    "InvalidStatusTransition",
    "NotFound",
    "ObjectInfo",
    "RangeNotSatisfiable",
    "RequestContext",
    "Services",
    "Settings",
    "SizeMismatch",
    "Snapshot",
    "SnapshotStatus",
    "StorageFull",
    "StoreSettings",
    "StoredObject",
    "TooManyRequests",
    "Unauthorized",
    "UnsafeImage",
    "UnsupportedMediaType",
    "UnsupportedOperation",
    "Visibility",
    "Volume",
    "VolumeStatus",
    "__version__",
    "load_backend",
    "load_settings",
    "local_admin",
    "open_services",
]


def __getattr__(name: str) -> object:
    module = _SOURCES.get(name)
    if name == "__version__":
        value: object = _version()
    elif module is None:
        raise AttributeError(f"module 'cowshed' has no attribute {name!r}")
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
