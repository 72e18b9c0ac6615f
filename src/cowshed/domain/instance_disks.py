"""Instance disks on a hypervisor: the records the node disk manager keeps and the rules on them.

An instance has a root disk (``disk``) and, per flavor, an ephemeral disk (``disk.eph0``), a swap
disk (``disk.swap``) and a config drive (``disk.config``) — Nova's names. Each disk is a file
(qcow2 overlay or raw copy), an RBD image (``<pool>/<instance>_<disk name>``) or a logical
volume, and says how it was provisioned, so a dry run and a report use the same words.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cowshed.errors import InvalidRequest

GiB = 1 << 30
MiB = 1 << 20

#: instance names: Nova uses UUIDs; any name of this alphabet works (no ``_``, which separates
#: the instance from the disk name in RBD image names).
_INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")


def check_instance_name(name: str) -> str:
    """``name`` if it can name an instance (letters, digits, ``.`` and ``-``), else
    InvalidRequest."""
    if not _INSTANCE.match(name) or ".." in name:
        raise InvalidRequest(
            f"invalid instance name {name!r}: use 1-64 letters, digits, '.' or '-' "
            "(starting with a letter or digit)"
        )
    return name


class DiskKind(enum.StrEnum):
    ROOT = "root"
    EPHEMERAL = "ephemeral"
    SWAP = "swap"
    CONFIG = "config"


class SourceType(enum.StrEnum):
    """libvirt's ``<disk type=…>`` and the key of ``disk_cachemodes``."""

    FILE = "file"
    BLOCK = "block"
    NETWORK = "network"


class Provision(enum.StrEnum):
    """How a disk gets its bytes (the words ``--plan`` uses)."""

    #: qcow2 overlay whose backing file is the cached base: no data copied.
    OVERLAY = "overlay"
    #: full copy of the cached base (reflinked when the filesystem can).
    COPY = "copy"
    #: RBD layered clone of the image's protected snapshot: no data copied, no download.
    CLONE = "clone"
    #: the cached base imported into RBD or written into a logical volume.
    IMPORT = "import"
    #: created empty (and formatted): swap, ephemeral, config drive.
    CREATE = "create"
    #: a volume of the volume service, attached (boot from volume).
    VOLUME = "volume"


@dataclass(frozen=True)
class DiskEncryption:
    """An encrypted disk: the LUKS flavour and the libvirt secret holding its passphrase.

    The passphrase itself is never part of a record: it lives wrapped in the node's key store.
    """

    format: str  # "luks" (qcow2) or "luks2" (librbd)
    secret_uuid: str
    #: "qemu" (qemu decrypts) or "librbd" (librbd decrypts; ``engine='librbd'`` in the XML)
    engine: str = "qemu"


@dataclass(frozen=True)
class InstanceDisk:
    """One disk of an instance, as created."""

    name: str
    kind: DiskKind
    source_type: SourceType
    #: absolute file path, ``pool/image`` for RBD, or ``/dev/vg/lv``.
    path: str
    #: qemu driver of the disk itself: ``qcow2`` or ``raw``.
    format: str
    #: guest-visible size in bytes.
    size: int
    provision: Provision
    target: str
    bus: str = "virtio"
    device: str = "disk"
    #: cache entry the disk depends on (its backing file), if any.
    base: str | None = None
    #: ``pool/image@snap`` a clone depends on, if any.
    parent: str | None = None
    encryption: DiskEncryption | None = None
    readonly: bool = False
    #: for a volume of the volume service: its id and this instance's attachment.
    volume_id: str | None = None
    attachment_id: str | None = None
    #: ``host:port`` of the Ceph monitors named by a volume's connection info.
    hosts: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name, "kind": str(self.kind), "source_type": str(self.source_type),
            "path": self.path, "format": self.format, "size": self.size,
            "provision": str(self.provision), "target": self.target, "bus": self.bus,
            "device": self.device, "base": self.base, "parent": self.parent,
            "readonly": self.readonly, "encryption": None, "volume_id": self.volume_id,
            "attachment_id": self.attachment_id, "hosts": list(self.hosts),
        }
        if self.encryption is not None:
            enc = self.encryption
            data["encryption"] = {"format": enc.format, "secret_uuid": enc.secret_uuid,
                                  "engine": enc.engine}
        return data

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> InstanceDisk:
        enc = data.get("encryption")
        return cls(
            name=str(data["name"]), kind=DiskKind(data["kind"]),
            source_type=SourceType(data["source_type"]), path=str(data["path"]),
            format=str(data["format"]), size=int(data["size"]),
            provision=Provision(data["provision"]), target=str(data["target"]),
            bus=str(data.get("bus") or "virtio"), device=str(data.get("device") or "disk"),
            base=data.get("base"), parent=data.get("parent"),
            readonly=bool(data.get("readonly")),
            encryption=DiskEncryption(**enc) if isinstance(enc, dict) else None,
            volume_id=data.get("volume_id"), attachment_id=data.get("attachment_id"),
            hosts=tuple(str(h) for h in data.get("hosts") or ()),
        )


@dataclass(frozen=True)
class Flavor:
    """The disk part of a flavor: sizes as the CLI takes them (None: the image's size)."""

    root_gb: int | None = None
    ephemeral_gb: int = 0
    swap_mb: int = 0

    def __post_init__(self) -> None:
        for name in ("ephemeral_gb", "swap_mb"):
            if getattr(self, name) < 0:
                raise InvalidRequest(f"{name} must not be negative")
        if self.root_gb is not None and self.root_gb < 0:
            raise InvalidRequest("root_gb must not be negative")


def root_size(requested: int, image_virtual_size: int) -> int:
    """Bytes of the root disk: ``requested`` (the flavor's size), or the image's virtual size
    when the flavor gives none (0, as Nova reads ``root_gb = 0``). Growing is allowed; a size
    below the image's is refused, as Nova's ``FlavorDiskSmallerThanImage``."""
    if not requested:
        return image_virtual_size
    if requested < image_virtual_size:
        raise InvalidRequest(
            f"root disk of {requested} bytes is smaller than the image's virtual size of "
            f"{image_virtual_size} bytes: disks only grow, a shrink is refused"
        )
    return requested


@dataclass(frozen=True)
class InstanceRecord:
    """What ``<instances_path>/<instance>/instance.json`` says about a spawned instance."""

    instance: str
    image_id: str
    images_type: str
    disks: tuple[InstanceDisk, ...]
    #: cache entries the instance's disks depend on (clean-up keeps them).
    bases: tuple[str, ...]
    created_at: float
    #: the base image's metadata at spawn time (snapshots inherit its properties).
    image: Mapping[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "instance": self.instance, "image_id": self.image_id,
            "images_type": self.images_type, "disks": [d.record() for d in self.disks],
            "bases": list(self.bases), "created_at": self.created_at, "image": dict(self.image),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> InstanceRecord:
        return cls(
            instance=str(data["instance"]), image_id=str(data["image_id"]),
            images_type=str(data["images_type"]),
            disks=tuple(InstanceDisk.from_record(d) for d in data["disks"]),
            bases=tuple(str(b) for b in data.get("bases") or ()),
            created_at=float(data["created_at"]), image=dict(data.get("image") or {}),
        )

    def disk(self, name: str) -> InstanceDisk:
        for disk in self.disks:
            if disk.name == name:
                return disk
        raise InvalidRequest(f"instance {self.instance} has no disk {name!r}")
