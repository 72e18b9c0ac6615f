"""``--plan``: what a spawn would do, disk by disk, without changing anything.

For each disk: how it would be made (clone, overlay, copy, import, create), which steps come
first (a download into the cache, a conversion, a template), how many bytes would move and from
where to where. Reading is allowed (the image's metadata, the cache, the Ceph cluster's fsid);
nothing is fetched, created or locked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cowshed.domain.instance_disks import GiB, MiB, Provision, check_instance_name, root_size
from cowshed.errors import CowshedError
from cowshed.node.cache import base_name
from cowshed.node.context import NodeContext
from cowshed.node.imageservice import ImageMeta
from cowshed.node.rbd_disks import cloneable_location, disk_name
from cowshed.node.settings import ImagesType
from cowshed.node.spawn import SpawnRequest


@dataclass(frozen=True)
class DiskPlan:
    name: str
    provision: str
    format: str
    size: int
    bytes_moved: int
    source: str
    destination: str
    steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SpawnPlan:
    instance: str
    image_id: str
    images_type: str
    disks: list[DiskPlan]
    download_bytes: int
    refused: str = ""

    def record(self) -> dict[str, object]:
        data = asdict(self)
        data["plan"] = True
        data["bytes_moved"] = sum(d.bytes_moved for d in self.disks) + self.download_bytes
        return data

    def text(self) -> str:
        lines = [f"plan for {self.instance} ({self.images_type}) from image {self.image_id}:"]
        if self.refused:
            lines.append(f"  refused: {self.refused}")
        for d in self.disks:
            lines.append(f"  {d.name}: {d.provision} {d.format} {d.size} bytes, moves "
                         f"{d.bytes_moved} bytes, {d.source} -> {d.destination}")
            lines.extend(f"    - {step}" for step in d.steps)
        lines.append(f"  download: {self.download_bytes} bytes")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Fetch:
    steps: list[str]
    download: int
    virtual_size: int


@dataclass(frozen=True)
class _Root:
    disk: DiskPlan
    download: int


class Planner:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def plan(self, req: SpawnRequest) -> SpawnPlan:
        check_instance_name(req.instance)
        kind = (req.images_type or self.ctx.node.images_type).effective
        final = self.ctx.store.dir(req.instance)
        if req.boot_volume:
            volume = self.ctx.volumes.volume(req.boot_volume)
            volume_root = DiskPlan(
                "disk", str(Provision.VOLUME), "-", int(volume.get("size") or 0) << 30, 0,
                f"volume {req.boot_volume}", "attached, not copied",
                ["attach the volume (attachments API), nothing is copied"])
            return SpawnPlan(req.instance, "", str(kind),
                             [volume_root, *self._extras(req, kind, final)], 0)
        image = self.ctx.client.show(req.image_id)
        refused = ""
        download = 0
        try:
            root = self._root(req, image, kind, str(final / "disk"))
            disks, download = [root.disk], root.download
        except CowshedError as exc:
            disks, refused = [], exc.message
        disks += self._extras(req, kind, final)
        return SpawnPlan(req.instance, image.id, str(kind), disks, download, refused)

    def _fetch_steps(self, image: ImageMeta) -> _Fetch:
        """Steps to get the image into the cache, bytes downloaded, base size."""
        name = base_name(image.id)
        base = self.ctx.cache.load(name)
        if base is not None:
            return _Fetch([f"use cached base {base.path} ({base.format})"], 0, base.virtual_size)
        url = f"{self.ctx.node.image_service_url.rstrip('/')}/v2/images/{image.id}/file"
        steps = [f"download {image.size} bytes from {url} to {self.ctx.cache.root / name}, "
                 "verifying md5 and the multihash and inspecting the format"]
        virtual = image.virtual_size or image.size or 0
        if image.disk_format not in ("raw", "iso") and self.ctx.node.force_raw_images:
            steps.append(f"convert {image.disk_format} to raw ({virtual} bytes virtual)")
        return _Fetch(steps, int(image.size or 0), virtual)

    def _root(self, req: SpawnRequest, image: ImageMeta, kind: ImagesType, path: str) -> _Root:
        requested = (req.flavor.root_gb or 0) * GiB
        if kind is ImagesType.RBD:
            return self._rbd_root(req, image, requested)
        if kind is ImagesType.LVM:
            from cowshed.node.lvm import check_lvm

            check_lvm(self.ctx)
        fetch = self._fetch_steps(image)
        size = root_size(requested, fetch.virtual_size)
        base = str(self.ctx.cache.root / base_name(image.id))
        if kind is ImagesType.QCOW2:
            fetch.steps.append(f"qcow2 overlay of {size} bytes backed by {base}")
            return _Root(DiskPlan("disk", str(Provision.OVERLAY), "qcow2", size, 0, base, path,
                                  fetch.steps), fetch.download)
        fetch.steps.append("copy the base (reflink where the filesystem can), grow to size")
        return _Root(DiskPlan("disk", str(Provision.COPY), "raw", size, fetch.virtual_size, base,
                              path, fetch.steps), fetch.download)

    def _rbd_root(self, req: SpawnRequest, image: ImageMeta, requested: int) -> _Root:
        dest = f"rbd:{self.ctx.node.images_rbd_pool}/{disk_name(req.instance, 'disk')}"
        source = cloneable_location(self.ctx, image)
        if source is not None:
            loc = source.location
            size = root_size(requested, source.size)
            src = f"rbd://{loc.fsid}/{loc.pool}/{loc.image}/{loc.snap}"
            return _Root(DiskPlan("disk", str(Provision.CLONE), "raw", size, 0, src, dest,
                                  ["layered clone of the image's protected snapshot"]), 0)
        if self.ctx.node.never_download_image_if_on_rbd:
            raise CowshedError("the image cannot be cloned here and "
                               "never_download_image_if_on_rbd is set")
        fetch = self._fetch_steps(image)
        size = root_size(requested, fetch.virtual_size)
        fetch.steps.append("import the base's data extents into RBD")
        return _Root(DiskPlan("disk", str(Provision.IMPORT), "raw", size, fetch.virtual_size,
                              str(self.ctx.cache.root / base_name(image.id)), dest, fetch.steps),
                     fetch.download)

    def _extras(self, req: SpawnRequest, kind: ImagesType, final: object) -> list[DiskPlan]:
        out = []
        fs = self.ctx.node.default_ephemeral_format
        for name, template, size, what in (
            ("disk.eph0", f"ephemeral_{req.flavor.ephemeral_gb}_{fs}",
             req.flavor.ephemeral_gb * GiB, f"mkfs.{fs}"),
            ("disk.swap", f"swap_{req.flavor.swap_mb}", req.flavor.swap_mb * MiB, "mkswap"),
        ):
            if not size:
                continue
            cached = self.ctx.cache.load(template) is not None
            steps = ([] if cached else [f"create template {template} ({what})"])
            provision = {ImagesType.QCOW2: Provision.OVERLAY, ImagesType.RBD: Provision.IMPORT}.get(
                kind, Provision.COPY)
            moved = 0 if provision is Provision.OVERLAY else size
            dest = (f"rbd:{self.ctx.node.images_rbd_pool}/{disk_name(req.instance, name)}"
                    if kind is ImagesType.RBD else f"{final}/{name}")
            out.append(DiskPlan(name, str(provision), "qcow2" if moved == 0 else "raw", size,
                                moved, str(self.ctx.cache.root / template), dest, steps))
        if req.config_drive:
            out.append(DiskPlan("disk.config", str(Provision.CREATE), "raw", 0, 0, "metadata",
                                f"{final}/disk.config", ["build an ISO 9660 config drive"]))
        return out
