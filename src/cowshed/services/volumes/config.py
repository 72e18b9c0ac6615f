"""Volume backends from ``[volume_backends.NAME]``: Cinder's option names → a store and a policy.

``type = "rbd"`` takes Cinder's RBD options (``rbd_pool``, ``rbd_ceph_conf``, ``rbd_user``,
``rbd_max_clone_depth``, ``rbd_flatten_volume_from_snapshot``, ``rbd_store_chunk_size``,
``rados_connect_timeout``); ``type = "file"`` takes ``volumes_dir`` and the same two policy
options without the ``rbd_`` prefix. Unknown options are a ConfigError, as for image stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cowshed.backends._options import parse_options
from cowshed.backends.base import Backend
from cowshed.backends.file import FileBackend
from cowshed.backends.registry import load_backend
from cowshed.config import VolumeBackendSettings
from cowshed.errors import ConfigError
from cowshed.formats.qemu_img import QemuImg
from cowshed.services.volumes.overlay import OverlayStore
from cowshed.services.volumes.stores import NativeStore, VolumeStore


@dataclass(frozen=True)
class ClonePolicy:
    """When clones are flattened (Cinder's semantics, per backend)."""

    #: clone chains (volume-from-volume links) deeper than this are flattened; 0: full copies.
    max_clone_depth: int = 5
    #: flatten every volume made from a snapshot.
    flatten_volume_from_snapshot: bool = False

    def __post_init__(self) -> None:
        if self.max_clone_depth < 0:
            raise ValueError("max clone depth must be ≥ 0")


@dataclass(frozen=True)
class RbdVolumeOptions:
    rbd_pool: str = "rbd"
    rbd_ceph_conf: str = ""
    rbd_user: str | None = None
    rbd_max_clone_depth: int = 5
    rbd_flatten_volume_from_snapshot: bool = False
    #: MiB per RADOS object (Cinder's default: 4).
    rbd_store_chunk_size: int = 4
    rados_connect_timeout: int = -1


@dataclass(frozen=True)
class FileVolumeOptions:
    volumes_dir: str
    max_clone_depth: int = 5
    flatten_volume_from_snapshot: bool = False


@dataclass(frozen=True)
class VolumeBackendSpec:
    """A parsed volume backend: its store and its clone policy."""

    name: str
    store: VolumeStore
    policy: ClonePolicy


def build_backend(spec: VolumeBackendSettings, qemu: QemuImg, scratch: Path) -> VolumeBackendSpec:
    """The store and policy of one configured volume backend; ConfigError on bad options."""
    label = f"volume_backends.{spec.name}"
    try:
        if spec.type == "rbd":
            return _rbd(spec, qemu, scratch, parse_options(label, RbdVolumeOptions, spec.options))
        if spec.type == "file":
            return _file(spec, qemu, scratch, parse_options(label, FileVolumeOptions, spec.options))
    except ValueError as exc:
        raise ConfigError(f"{label}: {exc}") from exc
    raise ConfigError(f"{label}: unknown type {spec.type!r} (rbd or file)")


def _rbd(spec: VolumeBackendSettings, qemu: QemuImg, scratch: Path,
         opts: RbdVolumeOptions) -> VolumeBackendSpec:
    options: Mapping[str, object] = {
        "rbd_store_pool": opts.rbd_pool, "rbd_store_ceph_conf": opts.rbd_ceph_conf,
        "rbd_store_user": opts.rbd_user, "rbd_store_chunk_size": opts.rbd_store_chunk_size,
        "rados_connect_timeout": opts.rados_connect_timeout,
    }
    backend = load_backend("rbd", spec.name, options)
    policy = ClonePolicy(opts.rbd_max_clone_depth, opts.rbd_flatten_volume_from_snapshot)
    return VolumeBackendSpec(spec.name, NativeStore(spec.name, backend, qemu, scratch), policy)


def _file(spec: VolumeBackendSettings, qemu: QemuImg, scratch: Path,
          opts: FileVolumeOptions) -> VolumeBackendSpec:
    backend = load_backend("file", spec.name, {"filesystem_store_datadir": opts.volumes_dir})
    policy = ClonePolicy(opts.max_clone_depth, opts.flatten_volume_from_snapshot)
    return VolumeBackendSpec(spec.name, store_for(spec.name, backend, qemu, scratch), policy)


def store_for(name: str, backend: Backend, qemu: QemuImg, scratch: Path) -> VolumeStore:
    """A native store when the backend snapshots, clones and grows by itself (reflink), else
    qcow2 overlays on its files."""
    caps = backend.capabilities
    if caps.snapshots and caps.clone and caps.extend:
        return NativeStore(name, backend, qemu, scratch)
    if caps.local_files and isinstance(backend, FileBackend):
        return OverlayStore(name, backend, qemu, scratch)
    raise ConfigError(f"volume backend {name!r}: {backend.kind} store can neither snapshot "
                      "nor hold qcow2 overlays")
