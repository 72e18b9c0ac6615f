"""Instance snapshots into the image service, as Nova's libvirt driver makes them.

1. The image record is created first (``queued``) with ``image_type=snapshot``,
   ``instance_uuid``, ``base_image_ref`` and the base image's inheritable properties.
2. The root disk is extracted into ``<instances_path>/snapshots/<image id>/``:
   - **cold**: ``qemu-img convert`` of the disk (it flattens the backing chain); an RBD disk is
     read through librbd (data extents only) and converted if qcow2 is wanted;
   - **direct** (RBD disks, image service on the same cluster): made inside Ceph and
     registered as a location (:mod:`cowshed.node.rbd_snapshot`), nothing uploaded;
   - **live** (``--live --domain D``, the guest keeps running): a qcow2 delta with the disk's
     backing file is copied into by ``virsh blockcopy --shallow --reuse-external --wait
     --finish`` (Nova's blockRebase + blockJobAbort without pivot), then converted; an RBD disk
     is copied whole into a local qcow2 the same way. Under plain QEMU (``--live --qmp S``) the
     same shallow copy is QMP ``drive-mirror`` + ``block-job-cancel`` (:mod:`.qmp`).
3. ``snapshot_image_format`` (raw or qcow2; default the disk's format, raw for RBD) and
   ``snapshot_compression`` (qcow2 ``-c``) apply to the conversion.
4. The file is uploaded; any failure deletes the new image record and the work directory.

A crash leaves ``snapshots/<image id>/`` with ``pending.json``; clean-up deletes the image
record if it never became active and removes the directory.

Snapshots of encrypted disks are refused: the image would hold the disk's plaintext.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cowshed.domain.instance_disks import InstanceDisk, InstanceRecord, SourceType
from cowshed.errors import CowshedError, InvalidRequest, UnsupportedOperation
from cowshed.node.context import NodeContext
from cowshed.node.files import atomic_write_json, read_json
from cowshed.node.imageservice import ImageMeta
from cowshed.node.libvirt import Virsh

log = logging.getLogger(__name__)

#: never copied into a snapshot (Nova's non_inheritable_image_properties + ours).
NON_INHERITABLE = frozenset({
    "cache_in_nova", "bittorrent", "img_signature_hash_method", "img_signature",
    "img_signature_key_type", "img_signature_certificate_uuid", "image_type",
    "instance_uuid", "base_image_ref", "image_location", "image_state", "owner_id",
})


@dataclass(frozen=True)
class SnapshotResult:
    """The new, active image and how it was made: ``direct`` (inside Ceph, registered as a
    location), ``live`` or ``cold`` (extracted and uploaded)."""

    image: ImageMeta
    method: str


@dataclass(frozen=True)
class SnapshotRequest:
    instance: str
    name: str
    live: bool = False
    #: the running libvirt domain (live snapshot through libvirt)…
    domain: str | None = None
    #: …or the QMP socket of a guest under plain QEMU.
    qmp: str | None = None


def snapshot_properties(record: InstanceRecord) -> dict[str, str]:
    props = {k: str(v) for k, v in dict(record.image.get("properties") or {}).items()
             if k not in NON_INHERITABLE and not k.startswith("os_glance")}
    props.update({"image_type": "snapshot", "instance_uuid": record.instance,
                  "base_image_ref": record.image_id, "image_location": "snapshot",
                  "image_state": "available"})
    return props


class Snapshotter:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def snapshot(self, req: SnapshotRequest, record: InstanceRecord) -> SnapshotResult:
        root = record.disk("disk")
        if root.volume_id:
            return SnapshotResult(self._volume_backed(req, record), "volume")
        if root.encryption is not None:
            raise UnsupportedOperation(
                "snapshots of encrypted disks are not supported: the image would hold the "
                "disk's plaintext")
        if req.live and bool(req.domain) == bool(req.qmp):
            raise InvalidRequest("a live snapshot needs --domain (the running libvirt domain) "
                                 "or --qmp (the QMP socket of a plain QEMU guest), one of them")
        fmt = self._format(root)
        body: dict[str, Any] = {
            "name": req.name, "disk_format": fmt, "container_format": "bare",
            "visibility": "private", **snapshot_properties(record),
        }
        min_disk = record.image.get("min_disk")
        if isinstance(min_disk, int) and min_disk:
            body["min_disk"] = min_disk
        client = self.ctx.client
        image = client.create(body)
        if root.source_type is SourceType.NETWORK and fmt == "raw":
            direct = self._try_direct(record, root, image)
            if direct is not None:
                return SnapshotResult(direct, "direct")
        work = self.ctx.instances_path / "snapshots" / image.id
        try:
            work.mkdir(parents=True, mode=0o755)
            work.chmod(0o755)  # libvirt's qemu user writes the live copy here
            atomic_write_json(work / "pending.json", {"image_id": image.id,
                                                      "instance": req.instance})
            out = self._extract(req, root, fmt, work)
            client.upload(image.id, out)
        except BaseException:
            _quietly(lambda: client.delete(image.id))
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        return SnapshotResult(client.show(image.id), "live" if req.live else "cold")

    def _volume_backed(self, req: SnapshotRequest, record: InstanceRecord) -> ImageMeta:
        """Nova's ``snapshot_volume_backed``: snapshot every attached volume (force: they are
        in use), then a zero-byte image whose ``block_device_mapping`` names the snapshots."""
        from cowshed.node.volumes import block_device_mapping

        volumes = [d for d in record.disks if d.volume_id]
        snaps = [self.ctx.volumes.snapshot(str(d.volume_id), f"snapshot for {req.name}")
                 for d in volumes]
        props = {k: v for k, v in snapshot_properties(record).items() if v}
        body: dict[str, Any] = {
            "name": req.name, "visibility": "private", **props,
            "block_device_mapping": block_device_mapping(snaps), "bdm_v2": "True",
            "root_device_name": "/dev/vda",
        }
        return self.ctx.client.create(body)

    def _try_direct(self, record: InstanceRecord, root: InstanceDisk, image: ImageMeta
                    ) -> ImageMeta | None:
        """Nova's ``direct_snapshot`` when the image service's pool is on this cluster; None
        (nothing left behind) when it is not possible, so the caller uploads instead."""
        from cowshed.node.rbd_snapshot import direct_snapshot, image_pool

        pool = image_pool(self.ctx, record, root)
        if pool is None:
            return None
        try:
            return direct_snapshot(self.ctx, root, image, pool)
        except CowshedError as exc:
            log.warning("direct RBD snapshot of %s failed, uploading instead: %s",
                        root.path, exc.message)
            return None

    def _format(self, disk: InstanceDisk) -> str:
        wanted = self.ctx.node.snapshot_image_format
        if wanted:
            return wanted
        return "raw" if disk.source_type is not SourceType.FILE else disk.format

    def _extract(self, req: SnapshotRequest, disk: InstanceDisk, fmt: str, work: Path) -> Path:
        out = work / f"snapshot.{fmt}"
        compress = self.ctx.node.snapshot_compression and fmt == "qcow2"
        qemu = self.ctx.qemu
        if req.live:
            delta = self._live_copy(req, disk, work)
            qemu.convert(delta, "qcow2", out, fmt, compress=compress)
        elif disk.source_type is SourceType.FILE:
            qemu.convert(disk.path, disk.format, out, fmt, compress=compress)
        elif disk.source_type is SourceType.NETWORK:
            raw = work / "export.raw"
            self._export_rbd(disk, raw)
            if fmt == "raw":
                return raw
            qemu.convert(raw, "raw", out, fmt, compress=compress)
        else:
            raise UnsupportedOperation(f"cannot snapshot a {disk.source_type} disk")
        return out

    def _live_copy(self, req: SnapshotRequest, disk: InstanceDisk, work: Path) -> Path:
        """Nova's ``_live_snapshot``: a shallow copy into a delta with the same backing file
        (file disks) or a full copy into a new qcow2 (RBD), then abort without pivot."""
        virsh = Virsh(self.ctx.node.libvirt_uri)
        delta = work / "delta.qcow2"
        domain = str(req.domain)
        if disk.source_type is SourceType.FILE and disk.format == "qcow2":
            base = self.ctx.cache.load(disk.base) if disk.base else None
            if base is None:
                raise InvalidRequest(f"the base of {disk.path} is not in the cache")
            self.ctx.qemu.create(delta, "qcow2", disk.size, backing=base.path,
                                 backing_fmt=base.format)
            os.chmod(delta, 0o644)
            if req.qmp:
                from cowshed.node.qmp import live_copy

                live_copy(Path(req.qmp), disk.path, delta)
            else:
                virsh.block_copy(domain, disk.target, delta, shallow=True, reuse_external=True)
        elif req.qmp:
            raise UnsupportedOperation("live snapshots over QMP need a qcow2 file disk")
        else:
            virsh.block_copy(domain, disk.target, delta, shallow=False, reuse_external=False,
                             dest_format="qcow2")
        return delta

    def _export_rbd(self, disk: InstanceDisk, dst: Path) -> None:
        """Read an RBD disk's allocated extents (its parent's included) into a sparse file."""
        rbd = self.ctx.rbd
        image = rbd.image(disk.path.split("/", 1)[1], read_only=True)
        try:
            size = int(image.size())
            extents: list[tuple[int, int]] = []

            def found(offset: int, length: int, exists: bool) -> int:
                if exists:
                    extents.append((offset, length))
                return 0

            image.diff_iterate(0, size, None, found, include_parent=True, whole_object=False)
            with open(dst, "wb") as fh:
                fh.truncate(size)
                for off, length in extents:
                    _copy_extent(image, fh, off, length)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            image.close()


def _copy_extent(image: Any, fh: Any, offset: int, length: int) -> None:
    step = 8 << 20
    pos = offset
    while pos < offset + length:
        n = min(step, offset + length - pos)
        data = bytes(image.read(pos, n))
        if data.count(0) != len(data):
            fh.seek(pos)
            fh.write(data)
        pos += n


def _quietly(action: Any) -> None:
    try:
        action()
    except Exception:  # the original error matters more than a failed clean-up
        return


def pending_snapshots(ctx: NodeContext) -> list[Path]:
    folder = ctx.instances_path / "snapshots"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def pending_image_id(work: Path) -> str | None:
    data = read_json(work / "pending.json")
    return str(data["image_id"]) if data and data.get("image_id") else None
