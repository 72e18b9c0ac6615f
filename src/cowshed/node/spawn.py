"""Spawning: the disks of one instance, made all together or not at all.

Steps, under the instance's lock: refuse an existing instance; reconcile what a dead spawn of
the same name left; build every disk in a private work directory (the cache entries used are
held under shared locks until the end, so clean-up cannot take a base away mid-spawn); write
``disk.info`` and ``instance.json``; rename the work directory into place. Any failure runs the
undo stack (made disks removed, work directory deleted), so a failed spawn leaves nothing.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cowshed.domain.instance_disks import (
    DiskKind,
    Flavor,
    GiB,
    InstanceDisk,
    InstanceRecord,
    MiB,
    Provision,
    SourceType,
    check_instance_name,
)
from cowshed.errors import AlreadyExists, InvalidRequest
from cowshed.node import files_disks
from cowshed.node.cache import BaseFile
from cowshed.node.context import NodeContext
from cowshed.node.disk_types import DiskJob, DiskType, FileDiskType, RootDisk
from cowshed.node.imageservice import ImageMeta
from cowshed.node.settings import ImagesType

#: root, ephemeral and swap go on virtio as vda, vdb, vdc…; the config drive is an IDE cdrom.
_CONFIG_TARGET = "hdd"


@dataclass(frozen=True)
class SpawnRequest:
    """What ``cowshed node spawn`` asks for."""

    instance: str
    image_id: str
    flavor: Flavor = field(default_factory=Flavor)
    #: overrides ``[node] images_type`` for this spawn.
    images_type: ImagesType | None = None
    encrypt: bool = False
    config_drive: bool = False
    #: boot from this volume of the volume service instead of an image (``image_id`` "").
    boot_volume: str | None = None


def disk_type(ctx: NodeContext, images_type: ImagesType) -> DiskType:
    """The disk type for an ``images_type`` value (lvm checks for device-mapper first)."""
    effective = images_type.effective
    if effective is ImagesType.RBD:
        from cowshed.node.rbd_disks import RbdDiskType

        return RbdDiskType(ctx)
    if effective is ImagesType.LVM:
        from cowshed.node.lvm import LvmDiskType

        return LvmDiskType(ctx)
    return FileDiskType(ctx, effective)


def _targets() -> list[str]:
    return [f"vd{chr(ord('a') + i)}" for i in range(26)]


class Spawner:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def spawn(self, req: SpawnRequest) -> InstanceRecord:
        name = check_instance_name(req.instance)
        kind = (req.images_type or self.ctx.node.images_type).effective
        dtype = disk_type(self.ctx, kind)
        store = self.ctx.store
        with store.locked(name):
            if store.exists(name):
                raise AlreadyExists(f"instance {name} exists (delete it first)")
            reconcile_instance(self.ctx, name)
            if bool(req.boot_volume) == bool(req.image_id):
                raise InvalidRequest("give an image or a boot volume, one of them")
            if req.boot_volume and req.encrypt:
                raise InvalidRequest("--encrypt applies to the node's disks, not to a volume "
                                     "(the volume service encrypts its volumes)")
            image = self.ctx.client.show(req.image_id) if req.image_id else None
            return self._build(req, image, dtype)

    def _volume_root(self, req: SpawnRequest, target: str, undo: ExitStack) -> RootDisk:
        """Attach the boot volume (attachments API) and describe it as the root disk."""
        from cowshed.node.volumes import volume_disk

        vols = self.ctx.volumes
        volume = vols.volume(str(req.boot_volume))
        att = vols.attach(str(req.boot_volume), req.instance)
        undo.callback(vols.detach, str(att["id"]))
        return RootDisk(volume_disk(att, volume, target), None)

    def _build(self, req: SpawnRequest, image: ImageMeta | None, dtype: DiskType
               ) -> InstanceRecord:
        store = self.ctx.store
        work = store.new_work_dir(req.instance)
        final = store.dir(req.instance)
        targets = iter(_targets())
        with ExitStack() as holds, ExitStack() as undo:
            undo.callback(shutil.rmtree, work, True)
            root_job = DiskJob(req.instance, "disk", DiskKind.ROOT,
                               (req.flavor.root_gb or 0) * GiB, next(targets), work, final,
                               req.encrypt)
            if image is None:
                root = self._volume_root(req, root_job.target, undo)
            else:
                root = dtype.root(root_job, image, holds)
                undo.callback(dtype.remove, root.disk)
            disks = [root.disk]
            bases = [root.base] if root.base else []
            for extra in self._extra_jobs(req, work, final, targets):
                base = holds.enter_context(extra.template)
                disk = dtype.from_template(extra.job, base)
                undo.callback(dtype.remove, disk)
                disks.append(disk)
                bases.append(base.name)
            if req.config_drive:
                disks.append(self._config_drive(req, image.id if image else "", work, final))
            record = InstanceRecord(
                instance=req.instance, image_id=image.id if image else "",
                images_type=str(dtype.images_type), disks=tuple(disks), bases=tuple(bases),
                created_at=time.time(),
                image=image_summary(image) if image else {"boot_volume": req.boot_volume},
            )
            store.write_disk_info(work, {d.path: d.format for d in disks
                                         if d.source_type is SourceType.FILE
                                         and not d.volume_id})
            store.publish(work, record)
            undo.pop_all()
        return record

    def _extra_jobs(self, req: SpawnRequest, work: Path, final: Path,
                    targets: Iterator[str]) -> list[_Extra]:
        """The ephemeral and swap disks of the flavor, each with its formatted template."""
        out: list[_Extra] = []
        cache = self.ctx.cache
        if req.flavor.ephemeral_gb:
            fs = self.ctx.node.default_ephemeral_format
            size = req.flavor.ephemeral_gb * GiB
            job = DiskJob(req.instance, "disk.eph0", DiskKind.EPHEMERAL, size, next(targets),
                          work, final, req.encrypt)
            template = cache.use_template(f"ephemeral_{req.flavor.ephemeral_gb}_{fs}", size,
                                          lambda path: files_disks.format_ephemeral(path, fs))
            out.append(_Extra(job, template))
        if req.flavor.swap_mb:
            size = req.flavor.swap_mb * MiB
            job = DiskJob(req.instance, "disk.swap", DiskKind.SWAP, size, next(targets), work,
                          final, req.encrypt)
            template = cache.use_template(f"swap_{req.flavor.swap_mb}", size,
                                          files_disks.format_swap)
            out.append(_Extra(job, template))
        return out

    @staticmethod
    def _config_drive(req: SpawnRequest, image_id: str, work: Path,
                      final: Path) -> InstanceDisk:
        """Nova's config drive: an ISO 9660 file attached read-only as an IDE cdrom."""
        files_disks.make_config_drive(work / "disk.config", req.instance,
                                      {"image_id": image_id})
        size = (work / "disk.config").stat().st_size
        return InstanceDisk(
            name="disk.config", kind=DiskKind.CONFIG, source_type=SourceType.FILE,
            path=str(final / "disk.config"), format="raw", size=size,
            provision=Provision.CREATE, target=_CONFIG_TARGET, bus="ide", device="cdrom",
            readonly=True,
        )


@dataclass(frozen=True)
class _Extra:
    job: DiskJob
    template: AbstractContextManager[BaseFile]


def image_summary(image: ImageMeta) -> dict[str, object]:
    """The image facts an instance keeps (snapshots inherit the properties)."""
    return {
        "id": image.id, "name": image.name, "disk_format": image.disk_format,
        "container_format": image.container_format, "min_disk": image.min_disk,
        "size": image.size, "virtual_size": image.virtual_size,
        "properties": dict(image.properties),
    }


def reconcile_instance(ctx: NodeContext, name: str, rbd_names: list[str] | None = None
                       ) -> list[str]:
    """Remove what dead spawns of ``name`` left: work directories and, with ``rbd``
    instance disks, images ``<name>_*`` when no record claims them. Call with the instance
    lock held and only for an instance without a record. ``rbd_names`` is a listing of the
    pool the caller already has. Returns what was removed."""
    removed = []
    for work in ctx.store.stale_work_dirs(name):
        shutil.rmtree(work, ignore_errors=True)
        removed.append(work.name)
    if ctx.store.broken(name):
        ctx.store.remove_dir(name)
        removed.append(name)
    if ctx.store.exists(name):
        return removed
    if rbd_names is None and ctx.node.images_type.effective is ImagesType.RBD:
        rbd_names = ctx.rbd.names()
    from cowshed.node.cleanup import RBD_DISK

    for image in rbd_names or ():
        match = RBD_DISK.match(image)
        if match and match["instance"] == name:
            ctx.rbd.remove(image, retries=2, interval=1.0)
            removed.append(f"rbd:{ctx.rbd.pool}/{image}")
    return removed

