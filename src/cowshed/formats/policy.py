"""Which formats are accepted, and the conversion of an image into a store's format.

:func:`convert_for_store` is Glance's ``image_conversion`` import plugin, tightened: the source
is inspected (no subprocess) before qemu-img ever opens it, qemu-img must agree with the
inspector, and the output is fsynced and inspected again before anyone trusts it.
"""

from __future__ import annotations

import contextlib
import enum
import os
from dataclasses import dataclass
from pathlib import Path

from cowshed.errors import ExternalToolError, InvalidRequest, StorageFull, UnsafeImage
from cowshed.formats.inspect import DEFAULT_CONFIG, InspectorConfig, inspect_file
from cowshed.formats.qemu_img import ImageInfo, QemuImg
from cowshed.formats.types import (
    DECLARABLE_DISK_FORMATS,
    ContainerFormat,
    DiskFormat,
    parse_disk_format,
)

ACCEPTED_DISK_FORMATS: frozenset[DiskFormat] = DECLARABLE_DISK_FORMATS
ACCEPTED_CONTAINER_FORMATS: frozenset[ContainerFormat] = frozenset(ContainerFormat)
#: VMDK subformats qemu-img may open (Nova/Cinder/Glance ``vmdk_allowed_types``): single-file.
VMDK_ALLOWED_TYPES: frozenset[str] = frozenset({"monolithicSparse", "streamOptimized"})
#: Formats qemu-img converts from. The rest (iso, ami/ari/aki, ploop) are stored as they are.
CONVERTIBLE: frozenset[DiskFormat] = frozenset(
    {DiskFormat.RAW, DiskFormat.QCOW2, DiskFormat.VMDK, DiskFormat.VHD, DiskFormat.VHDX,
     DiskFormat.VDI}
)


class ConversionTarget(enum.StrEnum):
    """What a store wants images converted to on import."""

    RAW = "raw"
    QCOW2 = "qcow2"
    KEEP = "keep"


@dataclass(frozen=True)
class ConversionPolicy:
    """A store's conversion policy (Glance's ``[image_conversion] output_format``)."""

    target: ConversionTarget = ConversionTarget.KEEP
    vmdk_allowed_types: frozenset[str] = VMDK_ALLOWED_TYPES
    inspector: InspectorConfig = DEFAULT_CONFIG
    #: largest converted image accepted, bytes (a deployment's ``image_size_cap``); None: any.
    max_output_size: int | None = None

    @classmethod
    def from_setting(
        cls, convert_to: str, *, inspector: InspectorConfig = DEFAULT_CONFIG,
        max_output_size: int | None = None,
    ) -> ConversionPolicy:
        """Build from a store's ``convert_to`` setting ("" keeps the format).

        Raises InvalidRequest for a target other than raw, qcow2 or keep.
        """
        try:
            target = ConversionTarget(convert_to or "keep")
        except ValueError:
            raise InvalidRequest(f"cannot convert images to {convert_to!r}") from None
        return cls(target=target, inspector=inspector, max_output_size=max_output_size)

    def target_for(self, disk_format: str) -> DiskFormat:
        """The format an image declared as ``disk_format`` ends up in on this store."""
        fmt = parse_disk_format(disk_format)
        if self.target is ConversionTarget.KEEP or fmt not in CONVERTIBLE:
            return fmt
        return DiskFormat(self.target.value)


@dataclass(frozen=True)
class ConversionResult:
    """The image to store: ``path`` (``dst_path`` if converted, else the source)."""

    disk_format: str
    size: int
    virtual_size: int | None
    path: Path
    converted: bool


def check_disk_format(value: str) -> DiskFormat:
    """Raise InvalidRequest unless ``value`` is an accepted ``disk_format``."""
    fmt = parse_disk_format(value)
    if fmt not in ACCEPTED_DISK_FORMATS:
        raise InvalidRequest(f"disk format {value!r} is not accepted")
    return fmt


def check_container_format(value: str) -> ContainerFormat:
    """Raise InvalidRequest unless ``value`` is an accepted ``container_format``."""
    try:
        return ContainerFormat(value)
    except ValueError:
        raise InvalidRequest(f"container format {value!r} is not accepted") from None


def inspection_required(container_format: str) -> bool:
    """Whether uploads must pass the format inspector: for ``bare`` images, as in Glance.

    Other containers (ovf, ova, docker, compressed…) are archives, not disks; their bytes are
    stored as they are and never handed to qemu-img (:func:`convert_for_store` inspects again).
    """
    return check_container_format(container_format) is ContainerFormat.BARE


def convert_for_store(
    src_path: str | Path,
    src_fmt: str,
    dst_path: str | Path,
    target: str | ConversionPolicy,
    qemu: QemuImg,
) -> ConversionResult:
    """Check an image and convert it to a store's format.

    Steps: inspect the source (no subprocess) → ``qemu-img info`` (must agree) → refuse a
    backing file, an external data file, encryption, a disallowed VMDK create-type or an
    oversized image → ``qemu-img measure``: refuse an output above ``max_output_size`` or
    larger than the free space (StorageFull) → convert (sparse; the only scratch space used is
    the output) → fsync the output and its directory → inspect the output (must be the target
    format). When the source already is in the target format (or cannot be converted: iso,
    ami/ari/aki, ploop) nothing is written and the result points at the source. ``target``
    is "raw", "qcow2", "keep" (also "") or a ConversionPolicy.

    Raises UnsafeImage / FormatMismatch for refused images, StorageFull for an output too
    large, ExternalToolError if qemu-img fails (``dst_path`` is then removed), InvalidRequest
    for an unknown format or target.
    """
    policy = target if isinstance(target, ConversionPolicy) else ConversionPolicy.from_setting(
        target
    )
    src = Path(src_path).absolute()
    declared = parse_disk_format(src_fmt)
    found = inspect_file(src, declared, config=policy.inspector)
    out_fmt = policy.target_for(declared)
    if declared not in CONVERTIBLE:
        return ConversionResult(str(declared), src.stat().st_size, found.virtual_size, src, False)
    info = qemu.info(src, declared)
    _check_info(info, declared, policy)
    if out_fmt is declared:
        return ConversionResult(str(declared), src.stat().st_size, info.virtual_size, src, False)
    dst = Path(dst_path).absolute()
    if dst == src:
        raise InvalidRequest("conversion output must not be the source file")
    _check_room(src, declared, info, dst, out_fmt, policy, qemu)
    with contextlib.ExitStack() as undo:
        undo.callback(_unlink_quietly, dst)
        qemu.convert(src, declared, dst, out_fmt, sparse=True)
        _fsync_file_and_dir(dst)
        out = inspect_file(dst, out_fmt, config=policy.inspector)
        result = ConversionResult(
            disk_format=str(out_fmt),
            size=dst.stat().st_size,
            virtual_size=out.virtual_size if out.virtual_size is not None else info.virtual_size,
            path=dst,
            converted=True,
        )
        undo.pop_all()
    return result


def _check_info(info: ImageInfo, declared: DiskFormat, policy: ConversionPolicy) -> None:
    """Refuse what qemu-img sees that the inspector might not (defence in depth)."""
    if info.backing_filename:
        raise UnsafeImage("image refused (qemu-img info): it has a backing file")
    if info.data_file:
        raise UnsafeImage("image refused (qemu-img info): it has an external data file")
    if info.encrypted:
        raise UnsafeImage("image refused (qemu-img info): encrypted images cannot be converted")
    if declared is DiskFormat.VMDK and info.create_type not in policy.vmdk_allowed_types:
        raise UnsafeImage(
            f"image refused (qemu-img info): VMDK create-type {info.create_type!r} is not one "
            f"of {sorted(policy.vmdk_allowed_types)}"
        )
    if info.virtual_size > policy.inspector.max_virtual_size:
        raise UnsafeImage(
            f"image refused (qemu-img info): virtual size {info.virtual_size} exceeds "
            f"{policy.inspector.max_virtual_size}"
        )


def _check_room(src: Path, declared: DiskFormat, info: ImageInfo, dst: Path,
                out_fmt: DiskFormat, policy: ConversionPolicy, qemu: QemuImg) -> None:
    """Refuse (StorageFull) a conversion whose output would exceed the size cap or not fit on
    the output's filesystem, before qemu-img writes a byte of it.

    A small input can stand for a large output: a qcow2 whose L2 entries all point at one
    cluster, compressed clusters of repeated bytes, or plain emptiness (a raw output is as
    large as the virtual size, holes or not). ``qemu-img measure`` says what the output needs.
    """
    needed = qemu.measure(src, declared, out_fmt)
    produced = info.virtual_size if out_fmt is DiskFormat.RAW else needed.required
    cap = policy.max_output_size
    if cap is not None and produced > cap:
        raise StorageFull(
            f"image refused (check output_size): as {out_fmt} it would be {produced} bytes "
            f"(virtual size {info.virtual_size}), more than the image size cap of {cap} bytes"
        )
    free = free_bytes(dst.parent)
    if needed.required > free:
        raise StorageFull(
            f"image refused (check free_space): converting it to {out_fmt} needs "
            f"{needed.required} bytes, {free} are free on {dst.parent}"
        )


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s filesystem."""
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def _fsync_file_and_dir(path: Path) -> None:
    """Make the converted image durable: its data, then its directory entry."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise ExternalToolError(f"cannot sync converted image {path}: {exc.strerror}") from exc


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
