"""The public library API: ``cowshed.__all__`` is pinned, and every name in it resolves."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

import cowshed
from cowshed import errors

PUBLIC = [
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


def test_all_is_pinned() -> None:
    """Adding or removing a public name is an API change: update PUBLIC on purpose."""
    assert cowshed.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(cowshed, name) is not None


def test_names_are_the_defining_objects() -> None:
    from cowshed.backends.registry import KNOWN_BACKENDS, load_backend
    from cowshed.config import Settings, load_settings
    from cowshed.services.app import open_services

    assert cowshed.Settings is Settings
    assert cowshed.load_settings is load_settings
    assert cowshed.open_services is open_services
    assert cowshed.KNOWN_BACKENDS is KNOWN_BACKENDS
    assert cowshed.load_backend is load_backend


def test_every_error_class_is_public() -> None:
    tree = {name for name, obj in vars(errors).items()
            if isinstance(obj, type) and issubclass(obj, errors.CowshedError)}
    assert tree <= set(cowshed.__all__)


def test_star_import_and_dir() -> None:
    namespace: dict[str, object] = {}
    exec("from cowshed import *", namespace)
    assert set(PUBLIC) <= set(namespace)
    assert set(PUBLIC) <= set(dir(cowshed))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = cowshed.Nope


def test_version_is_the_package_version() -> None:
    assert cowshed.__version__ == version("cowshed")


def test_importing_leaf_modules_stays_light() -> None:
    """``import cowshed.errors`` (as backends and formats do) must not load the database layer."""
    code = (
        "import sys, cowshed.errors, cowshed.formats; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'cowshed.db', "
        "'cowshed.services'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
