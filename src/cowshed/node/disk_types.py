"""The file-backed ``images_type`` values (qcow2, raw/flat) behind one small interface.

A disk type makes the root disk from an image and the swap/ephemeral disks from formatted
templates, and removes what it made. Spawning (:mod:`cowshed.node.spawn`) drives it; the RBD
and LVM types (:mod:`cowshed.node.rbd_disks`, :mod:`cowshed.node.lvm`) have the same methods.
"""

from __future__ import annotations

import contextlib
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cowshed.domain.instance_disks import (
    DiskEncryption,
    DiskKind,
    InstanceDisk,
    Provision,
    SourceType,
    root_size,
)
from cowshed.node import files_disks
from cowshed.node.cache import BaseFile
from cowshed.node.context import NodeContext
from cowshed.node.imageservice import ImageMeta
from cowshed.node.settings import ImagesType, Preallocate


@dataclass(frozen=True)
class DiskJob:
    """One disk to make: where it goes while building (``work``) and for good (``final``)."""

    instance: str
    name: str
    kind: DiskKind
    size: int
    target: str
    work: Path
    final: Path
    encrypt: bool = False


@dataclass(frozen=True)
class RootDisk:
    """The root disk made, and the cache entry it used (None: nothing was downloaded)."""

    disk: InstanceDisk
    base: str | None


class DiskType(Protocol):
    images_type: ImagesType

    def root(self, job: DiskJob, image: ImageMeta, holds: ExitStack) -> RootDisk:
        """Make the root disk.

        Cache entries are entered into ``holds`` (shared locks kept until the instance is
        published)."""

    def from_template(self, job: DiskJob, template: BaseFile) -> InstanceDisk:
        """Make a swap or ephemeral disk from a formatted template."""

    def remove(self, disk: InstanceDisk) -> None:
        """Remove a disk this type made (file, RBD image, LV); no error if it is gone."""


class FileDiskType:
    """``images_type`` qcow2 (overlays) or raw/flat (copies)."""

    def __init__(self, ctx: NodeContext, images_type: ImagesType) -> None:
        self.ctx = ctx
        self.images_type = images_type
        self.qcow2 = images_type is ImagesType.QCOW2

    def root(self, job: DiskJob, image: ImageMeta, holds: ExitStack) -> RootDisk:
        base = holds.enter_context(self.ctx.cache.use_image(self.ctx.client, image))
        size = root_size(job.size, base.virtual_size)
        return RootDisk(self._from_base(job, base, size), base.name)

    def from_template(self, job: DiskJob, template: BaseFile) -> InstanceDisk:
        return self._from_base(job, template, template.virtual_size)

    def _from_base(self, job: DiskJob, base: BaseFile, size: int) -> InstanceDisk:
        dst = job.work / job.name
        encryption: DiskEncryption | None = None
        if self.qcow2 and job.encrypt:
            encryption = self.ctx.keys.create_encrypted_overlay(
                self.ctx.qemu, job.instance, job.name, base, size, dst,
                self.ctx.node.encryption_iter_time_ms)
            provision, fmt = Provision.OVERLAY, "qcow2"
        elif self.qcow2:
            files_disks.overlay(base, size, dst, self.ctx.qemu, self.ctx.cache.root / ".overlays")
            provision, fmt = Provision.OVERLAY, "qcow2"
        else:
            self._copy(base, dst, size)
            provision, fmt = Provision.COPY, "raw"
        if self.ctx.node.preallocate_images is Preallocate.SPACE:
            files_disks.preallocate(dst, size)
        return InstanceDisk(
            name=job.name, kind=job.kind, source_type=SourceType.FILE,
            path=str(job.final / job.name), format=fmt, size=size, provision=provision,
            target=job.target, base=base.name if provision is Provision.OVERLAY else None,
            encryption=encryption,
        )

    def _copy(self, base: BaseFile, dst: Path, size: int) -> None:
        if base.format == "raw":
            files_disks.copy_base(base.path, dst)
        else:  # force_raw_images = false kept a qcow2 base: a raw disk needs converting
            self.ctx.qemu.convert(base.path, base.format, dst, "raw")
        files_disks.grow_raw(dst, size)

    def remove(self, disk: InstanceDisk) -> None:
        with contextlib.suppress(FileNotFoundError):
            Path(disk.path).unlink()
