"""Format names shared by the inspector, the qemu-img wrapper and the conversion policy.

Three vocabularies meet here and are kept apart on purpose:

* ``DiskFormat``: Glance's ``disk_format`` values (what a client declares), plus the formats the
  inspector can only *detect* (``gpt``, ``mbr``, ``luks``, ``qed``).
* ``ContainerFormat``: Glance's ``container_format`` values.
* qemu block-driver names (``vpc``, ``parallels``…): what ``qemu-img -f`` wants. Only
  :func:`qemu_driver` translates a disk format into one.
"""

from __future__ import annotations

import enum

from cowshed.errors import InvalidRequest, UnsupportedOperation


class DiskFormat(enum.StrEnum):
    """A disk format: declared by a client, or detected in the bytes."""

    AMI = "ami"
    ARI = "ari"
    AKI = "aki"
    VHD = "vhd"
    VHDX = "vhdx"
    VMDK = "vmdk"
    RAW = "raw"
    QCOW2 = "qcow2"
    VDI = "vdi"
    ISO = "iso"
    PLOOP = "ploop"
    # Detected only: never a valid ``disk_format`` in a request.
    GPT = "gpt"
    MBR = "mbr"
    LUKS = "luks"
    QED = "qed"


class ContainerFormat(enum.StrEnum):
    """Glance's ``container_format`` values."""

    AMI = "ami"
    ARI = "ari"
    AKI = "aki"
    BARE = "bare"
    OVF = "ovf"
    OVA = "ova"
    DOCKER = "docker"
    COMPRESSED = "compressed"


#: The ``disk_format`` values a client may declare (Glance's default ``disk_formats``).
DECLARABLE_DISK_FORMATS: frozenset[DiskFormat] = frozenset(
    {
        DiskFormat.AMI, DiskFormat.ARI, DiskFormat.AKI, DiskFormat.VHD, DiskFormat.VHDX,
        DiskFormat.VMDK, DiskFormat.RAW, DiskFormat.QCOW2, DiskFormat.VDI, DiskFormat.ISO,
        DiskFormat.PLOOP,
    }
)

#: Declared formats that have no inspector: their bytes are taken as opaque, and accepted only
#: when the inspector sees nothing but raw data in them (Glance does the same).
OPAQUE_DISK_FORMATS: frozenset[DiskFormat] = frozenset(
    {DiskFormat.AMI, DiskFormat.ARI, DiskFormat.AKI, DiskFormat.PLOOP}
)

# Formats whose bytes qemu reads as plain raw data.
_RAW_LIKE: frozenset[DiskFormat] = frozenset(
    {DiskFormat.RAW, DiskFormat.ISO, DiskFormat.AMI, DiskFormat.ARI, DiskFormat.AKI,
     DiskFormat.GPT, DiskFormat.MBR}
)

_QEMU_NAMES: dict[DiskFormat, str] = {
    DiskFormat.QCOW2: "qcow2",
    DiskFormat.VMDK: "vmdk",
    DiskFormat.VHD: "vpc",
    DiskFormat.VHDX: "vhdx",
    DiskFormat.VDI: "vdi",
    DiskFormat.LUKS: "luks",
}


def parse_disk_format(value: str) -> DiskFormat:
    """Return the DiskFormat named by ``value``.

    Raises InvalidRequest for an unknown name.
    """
    try:
        return DiskFormat(value)
    except ValueError:
        raise InvalidRequest(f"unknown disk format {value!r}") from None


def qemu_driver(fmt: DiskFormat | str) -> str:
    """The qemu block-driver name to pass to ``qemu-img -f`` for a disk format.

    Raw-like formats (iso, ami/ari/aki, a partition table) are read by qemu as ``raw``.
    Raises UnsupportedOperation for formats cowshed never hands to qemu-img (qed is banned;
    ploop has no inspector, so qemu-img must not parse it).
    """
    disk = parse_disk_format(str(fmt))
    if disk in _RAW_LIKE:
        return "raw"
    try:
        return _QEMU_NAMES[disk]
    except KeyError:
        raise UnsupportedOperation(f"qemu-img is never run on {disk} images") from None
