"""The ``[node]`` table: settings of the node disk manager, named as Nova names them.

They live in the same TOML file as the rest of cowshed's settings (``cowshed node --config F``)
and can be set from the environment as ``COWSHED_NODE_<NAME>`` (upper case), which wins over the
file. Values are typed as Nova types them::

    [node]
    image_service_url = "http://127.0.0.1:9292"      # the image endpoint, as in a catalog (no /v2)
    instances_path = "/var/lib/cowshed/instances"
    images_type = "qcow2"                             # raw | flat | qcow2 | rbd | lvm | default
    force_raw_images = true
    disk_cachemodes = ["file=writeback", "network=writeback"]
    hw_disk_discard = "unmap"

Only parsing and validation live here (no I/O); :mod:`cowshed.node.manager` acts on them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cowshed.errors import ConfigError

ENV_PREFIX = "COWSHED_NODE_"


class ImagesType(enum.StrEnum):
    """Nova's ``[libvirt] images_type``; ``default`` means qcow2 and ``flat`` is ``raw``."""

    RAW = "raw"
    FLAT = "flat"
    QCOW2 = "qcow2"
    RBD = "rbd"
    LVM = "lvm"
    DEFAULT = "default"

    @property
    def effective(self) -> ImagesType:
        """The backend this value selects (``default`` → qcow2, ``flat`` → raw)."""
        return {ImagesType.DEFAULT: ImagesType.QCOW2, ImagesType.FLAT: ImagesType.RAW}.get(
            self, self
        )


class Preallocate(enum.StrEnum):
    """Nova's ``preallocate_images``."""

    NONE = "none"
    SPACE = "space"


class VolumeClear(enum.StrEnum):
    """Nova's ``[libvirt] volume_clear``: how a deleted disk's bytes are destroyed."""

    NONE = "none"
    ZERO = "zero"
    SHRED = "shred"


CACHE_MODES = frozenset({"default", "none", "writethrough", "writeback", "directsync", "unsafe"})
CACHE_SOURCES = frozenset({"file", "block", "network"})
DISCARD_MODES = frozenset({"", "ignore", "unmap"})
SNAPSHOT_FORMATS = frozenset({"", "raw", "qcow2"})
EPHEMERAL_FORMATS = frozenset({"ext4", "ext3", "ext2", "xfs", "vfat"})


@dataclass(frozen=True)
class NodeSettings:
    """Every ``[node]`` setting. Defaults are Nova's unless a comment says otherwise."""

    #: base URL of a Glance-compatible image endpoint, as in a service catalog (no ``/v2``).
    image_service_url: str = ""
    #: ``X-Auth-Token`` sent to the image service (empty: none; cowshed's own server needs none)
    #: and to the volume service.
    image_service_token: str = ""
    #: base URL of a Cinder-compatible volume endpoint (boot from volume), as in a catalog.
    volume_service_url: str = ""
    #: where instance directories and the ``_base`` cache live; empty: ``<data_dir>/instances``.
    instances_path: str = ""
    images_type: ImagesType = ImagesType.DEFAULT
    images_rbd_pool: str = "rbd"
    images_rbd_ceph_conf: str = ""
    #: the Ceph user (``rados_id``) for instance disks; empty lets librados decide.
    images_rbd_user: str = ""
    #: libvirt secret holding that user's cephx key (``<auth>`` in the disk XML when set).
    rbd_secret_uuid: str = ""
    #: volume group for ``images_type = "lvm"``.
    images_volume_group: str = ""
    force_raw_images: bool = True
    preallocate_images: Preallocate = Preallocate.NONE
    volume_clear: VolumeClear = VolumeClear.ZERO
    #: MiB wiped from the start of each disk; 0 means the whole disk.
    volume_clear_size: int = 0
    #: ``source=mode`` pairs, e.g. ``["file=writeback", "network=writeback"]``.
    disk_cachemodes: tuple[str, ...] = ()
    #: ``""`` (unset), ``"ignore"`` or ``"unmap"``.
    hw_disk_discard: str = ""
    remove_unused_base_images: bool = True
    remove_unused_original_minimum_age_seconds: int = 86400
    remove_unused_resized_minimum_age_seconds: int = 3600
    #: seconds between passes of ``cowshed node cache-clean --repeat`` (Nova's manager_interval).
    image_cache_manager_interval: int = 2400
    never_download_image_if_on_rbd: bool = False
    #: ``""`` keeps the disk's format; ``"raw"`` or ``"qcow2"``.
    snapshot_image_format: str = ""
    snapshot_compression: bool = False
    #: filesystem of ephemeral disks (Nova's ``default_ephemeral_format``; ext4 for Linux).
    default_ephemeral_format: str = "ext4"
    libvirt_uri: str = "qemu:///system"
    #: host key that wraps the passphrases of encrypted disks; empty:
    #: ``<instances_path>/_keys/host.key`` (set it outside instances_path in production).
    encryption_key_file: str = ""
    #: LUKS key-derivation time in ms for encrypted qcow2 disks (qemu's default is 2000).
    encryption_iter_time_ms: int = 2000

    def __post_init__(self) -> None:
        _check(self)

    def resolve_instances_path(self, data_dir: Path) -> Path:
        return Path(self.instances_path).absolute() if self.instances_path else (
            data_dir / "instances"
        )

    def resolve_key_file(self, instances_path: Path) -> Path:
        return Path(self.encryption_key_file).absolute() if self.encryption_key_file else (
            instances_path / "_keys" / "host.key"
        )

    def cache_mode_for(self, source_type: str) -> str | None:
        """The ``cache=`` of a disk whose source is ``file``, ``block`` or ``network``."""
        for item in self.disk_cachemodes:
            source, _, mode = item.partition("=")
            if source == source_type:
                return mode
        return None


_ENUMS: dict[str, type[enum.StrEnum]] = {
    "images_type": ImagesType, "preallocate_images": Preallocate, "volume_clear": VolumeClear,
}


def _check(s: NodeSettings) -> None:
    for item in s.disk_cachemodes:
        source, sep, mode = item.partition("=")
        if not sep or source not in CACHE_SOURCES or mode not in CACHE_MODES:
            raise ConfigError(
                f"node.disk_cachemodes: {item!r} is not SOURCE=MODE with SOURCE one of "
                f"{sorted(CACHE_SOURCES)} and MODE one of {sorted(CACHE_MODES)}"
            )
    _one_of("hw_disk_discard", s.hw_disk_discard, DISCARD_MODES)
    _one_of("snapshot_image_format", s.snapshot_image_format, SNAPSHOT_FORMATS)
    _one_of("default_ephemeral_format", s.default_ephemeral_format, EPHEMERAL_FORMATS)
    for name in ("volume_clear_size", "remove_unused_original_minimum_age_seconds",
                 "remove_unused_resized_minimum_age_seconds"):
        if getattr(s, name) < 0:
            raise ConfigError(f"node.{name} must not be negative")
    if s.encryption_iter_time_ms < 100:
        raise ConfigError("node.encryption_iter_time_ms must be at least 100")
    if s.images_type.effective is ImagesType.RBD and not s.force_raw_images:
        # Nova refuses to start here too (bug 1816686): qcow2 bases imported into RBD are
        # unbootable, because RBD disks are always attached as raw.
        raise ConfigError("node.images_type = 'rbd' needs force_raw_images = true")
    if s.image_service_url.rstrip("/").endswith("/v2"):
        raise ConfigError(
            "node.image_service_url is the endpoint's base URL as in a catalog, without /v2"
        )


def _one_of(name: str, value: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        shown = ", ".join(repr(v) for v in sorted(allowed))
        raise ConfigError(f"node.{name} must be one of {shown}, got {value!r}")


def parse_node_settings(table: object, environ: Mapping[str, str]) -> NodeSettings:
    """Build NodeSettings from the TOML ``[node]`` table and ``COWSHED_NODE_*`` variables.

    Raises ConfigError on unknown keys, wrong types and invalid values.
    """
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError("[node] must be a table")
    raw: dict[str, Any] = dict(table)
    raw.update(node_env(environ))
    fields = {f.name: f for f in dataclasses.fields(NodeSettings)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown [node] setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {
        name: _typed(name, str(fields[name].type), value) for name, value in raw.items()
    }
    return NodeSettings(**values)


def node_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``COWSHED_NODE_*`` variables as typed values (strings parsed by field type)."""
    fields = {f.name: f for f in dataclasses.fields(NodeSettings)}
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in fields:
            raise ConfigError(f"unknown environment setting {key}")
        out[name] = _from_text(key, str(fields[name].type), value)
    return out


def _from_text(key: str, hint: str, value: str) -> object:
    if hint.startswith("tuple["):
        return [v.strip() for v in value.split(",") if v.strip()]
    if hint == "bool":
        if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"{key}: cannot parse {value!r} as a boolean")
        return value.lower() in ("1", "true", "yes", "on")
    if hint == "int":
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key}: cannot parse {value!r} as an integer") from None
    return value


def _typed(name: str, hint: str, value: object) -> object:
    if name in _ENUMS:
        kind = _ENUMS[name]
        try:
            return kind(_expect(name, value, str))
        except ValueError:
            allowed = ", ".join(repr(str(m)) for m in kind)
            raise ConfigError(f"node.{name} must be one of {allowed}, got {value!r}") from None
    if hint.startswith("tuple["):
        return tuple(_expect(name, v, str) for v in _expect(name, value, list))
    return _expect(name, value, {"bool": bool, "int": int, "str": str}[hint])


def _expect(name: str, value: object, kind: type) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"node.{name} must be {kind.__name__}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"node.{name} must be {kind.__name__}, got {value!r}")
    return value
