"""``images_type = "rbd"``: instance disks as RBD images ``<images_rbd_pool>/<instance>_<disk>``.

The root disk is, as in Nova's ``clone_fallback_to_fetch``:

1. a **clone** of the image's protected snapshot, when the image is raw and one of its
   locations is ``rbd://<fsid>/<pool>/<image>/<snap>`` on this cluster (same fsid) with an
   openable snapshot — no byte is downloaded;
2. otherwise, if ``never_download_image_if_on_rbd`` is set, an error (the boot fails);
3. otherwise the image is fetched into the cache (raw: ``force_raw_images`` is required with
   rbd) and **imported** (data extents only, so the disk stays thin).

Encryption (librbd luks2) works on imported disks. Ceph 16 cannot format a clone (EOPNOTSUPP):
that is reported as a clear error naming the fallbacks.

A crash leaves at most images named after an instance that has no complete directory; the
instance's next spawn, or clean-up, removes them (:func:`cowshed.node.reconcile`).
"""

from __future__ import annotations

from contextlib import ExitStack

from cowshed.domain.instance_disks import (
    DiskEncryption,
    InstanceDisk,
    Provision,
    SourceType,
    root_size,
)
from cowshed.errors import InvalidRequest, NotFound, UnsupportedOperation
from cowshed.node.cache import BaseFile
from cowshed.node.context import NodeContext
from cowshed.node.disk_types import DiskJob, RootDisk
from cowshed.node.imageservice import ImageMeta
from cowshed.node.rbd import CloneSource, RbdLocation
from cowshed.node.settings import ImagesType

#: bytes librbd's luks2 header takes from the start of an encrypted image.
LUKS2_HEADER = 16 << 20

CLONE_ENCRYPTION_ERROR = (
    "cannot encrypt an RBD clone: Ceph 16 (Pacific) refuses to format a cloned image with "
    "librbd encryption (EOPNOTSUPP). Fallbacks: spawn with images_type = 'qcow2' (an "
    "encrypted qcow2 overlay on a file), or without a cloneable location so the image is "
    "imported (a flat image, which can be encrypted)"
)


def disk_name(instance: str, disk: str) -> str:
    """Nova's RBD disk name: ``<instance>_<disk>``."""
    return f"{instance}_{disk}"


def cloneable_location(ctx: NodeContext, image: ImageMeta) -> CloneSource | None:
    """The first location Nova would clone from, or None (see the module docstring)."""
    if image.disk_format != "raw":
        return None
    locations = [loc for loc in map(RbdLocation.parse, image.locations) if loc is not None]
    if not locations:
        return None
    fsid = ctx.rbd.fsid()
    for loc in locations:
        if loc.fsid == fsid:
            source = ctx.rbd.clone_source(loc)
            if source is not None:
                return source
    return None


class RbdDiskType:
    images_type = ImagesType.RBD

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.rbd = ctx.rbd

    def root(self, job: DiskJob, image: ImageMeta, holds: ExitStack) -> RootDisk:
        name = disk_name(job.instance, job.name)
        loc = cloneable_location(self.ctx, image)
        if loc is not None:
            try:
                return RootDisk(self._clone(job, image, loc, name), None)
            except NotFound:
                # a remembered snapshot that has gone since: decide again from Ceph's answer
                if not self.rbd.forget(loc.location):
                    raise
                return self.root(job, image, holds)
        if self.ctx.node.never_download_image_if_on_rbd:
            raise InvalidRequest(
                f"image {image.id} cannot be cloned on this Ceph cluster (it is not raw, or no "
                "location is an rbd:// snapshot on the same cluster) and "
                "never_download_image_if_on_rbd is set: refusing to download it"
            )
        base = holds.enter_context(self.ctx.cache.use_image(self.ctx.client, image))
        size = root_size(job.size, base.virtual_size)
        return RootDisk(self._import(job, base, name, size), base.name)

    def from_template(self, job: DiskJob, template: BaseFile) -> InstanceDisk:
        name = disk_name(job.instance, job.name)
        return self._import(job, template, name, template.virtual_size)

    def remove(self, disk: InstanceDisk) -> None:
        self.rbd.remove(disk.path.split("/", 1)[1], retries=2, interval=1.0)

    def _clone(self, job: DiskJob, image: ImageMeta, src: CloneSource, name: str
               ) -> InstanceDisk:
        size = root_size(job.size, src.size)
        if job.encrypt:
            raise UnsupportedOperation(CLONE_ENCRYPTION_ERROR)
        self.rbd.clone(src, name)
        loc = src.location
        try:
            if size > src.size:
                self.rbd.resize(name, size)
        except BaseException:
            self.rbd.remove(name, retries=2, interval=1.0)
            raise
        return self._disk(job, name, size, Provision.CLONE,
                          parent=f"{loc.pool}/{loc.image}@{loc.snap}")

    def _import(self, job: DiskJob, base: BaseFile, name: str, size: int) -> InstanceDisk:
        if base.format != "raw":
            raise InvalidRequest(f"cache entry {base.name} is {base.format}; rbd needs raw")
        encryption = None
        passphrase = None
        if job.encrypt:
            key = self.ctx.keys.new(job.instance, job.name)
            passphrase = key.passphrase
            encryption = DiskEncryption("luks2", key.secret_uuid, engine="librbd")
        try:
            self.rbd.import_file(base.path, name, size + (LUKS2_HEADER if job.encrypt else 0),
                                 passphrase)
        except BaseException:
            self.rbd.remove(name, retries=2, interval=1.0)
            if encryption is not None:
                self.ctx.keys.delete(encryption.secret_uuid)
            raise
        return self._disk(job, name, size, Provision.IMPORT, encryption=encryption)

    def _disk(self, job: DiskJob, name: str, size: int, provision: Provision, *,
              parent: str | None = None, encryption: DiskEncryption | None = None
              ) -> InstanceDisk:
        return InstanceDisk(
            name=job.name, kind=job.kind, source_type=SourceType.NETWORK,
            path=f"{self.rbd.pool}/{name}", format="raw", size=size, provision=provision,
            target=job.target, parent=parent, encryption=encryption,
        )
