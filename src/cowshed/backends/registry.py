"""The table of backend types: ``type name → "module:Class"`` plus an install hint.

Drivers are imported only when a store of their type is configured, so librbd is needed only by
deployments that use Ceph. The table is read-only; there is no global mutable registry.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, cast

from cowshed.backends.base import Backend
from cowshed.errors import ConfigError


@dataclass(frozen=True)
class BackendType:
    """Where a driver lives and what a host needs to use it."""

    target: str
    install_hint: str


KNOWN_BACKENDS: Mapping[str, BackendType] = MappingProxyType(
    {
        "file": BackendType("cowshed.backends.file:FileBackend", "built in"),
        "memory": BackendType("cowshed.backends.memory:MemoryBackend", "built in (tests only)"),
        "rbd": BackendType(
            "cowshed.backends.rbd:RbdBackend",
            # this interpreter's path: Debian's bindings must be linked into it (a venv)
            f"apt-get install python3-rados python3-rbd, then {sys.executable} -m "
            "cowshed.dev.ceph_bindings",
        ),
    }
)


class _Factory(Protocol):
    def from_options(self, name: str, options: Mapping[str, object]) -> Backend: ...


def load_backend(kind: str, name: str, options: Mapping[str, object]) -> Backend:
    """Build store ``name`` of type ``kind`` from its options; ConfigError on any problem."""
    try:
        entry = KNOWN_BACKENDS[kind]
    except KeyError:
        known = ", ".join(sorted(KNOWN_BACKENDS))
        raise ConfigError(f"store {name!r}: unknown type {kind!r} (known: {known})") from None
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"store {name!r}: type {kind!r} unavailable ({exc}); {entry.install_hint}") from exc
    factory = cast(_Factory, getattr(module, class_name))
    return factory.from_options(name, options)
