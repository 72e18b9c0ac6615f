"""Nova's RBD *direct* snapshot: the snapshot image is made inside Ceph, no byte leaves it.

When the root disk is an RBD image and the image service keeps images in a pool of the same
cluster (the disk's parent pool, or a pool named by one of the base image's ``rbd://``
locations with our fsid):

1. a protected temporary snapshot ``<uuid hex>`` of ``<instance>_disk``;
2. a clone of it as ``<image pool>/<new image id>``, **flattened** (so the image does not depend
   on the instance), then the temporary snapshot is removed;
3. ``snap`` created and protected on the new image — the layout glance_store's RBD driver
   writes, so the image is clonable by the next spawn;
4. the location ``rbd://<fsid>/<pool>/<image id>/snap`` registered with
   ``POST /v2/images/{id}/locations`` (Image API 2.17); the image service reads the data back,
   hashes and inspects it, and turns the image active.

Any failure removes what was made in Ceph; the caller falls back to the standard snapshot (as
Nova does on ``ImageUnacceptable``/``Forbidden``/``NotImplementedError``).
"""

from __future__ import annotations

import contextlib
import time
import uuid

from cowshed.domain.instance_disks import InstanceDisk, InstanceRecord
from cowshed.errors import BackendUnavailable, CowshedError, InvalidRequest
from cowshed.node.context import NodeContext
from cowshed.node.imageservice import ImageMeta
from cowshed.node.rbd import RbdLocation, rbd_url

#: seconds the image service may take to read a registered location back.
ACTIVATE_TIMEOUT = 900.0


def image_pool(ctx: NodeContext, record: InstanceRecord, disk: InstanceDisk) -> str | None:
    """The pool of the image service on this cluster, or None (then no direct snapshot)."""
    if disk.parent:
        return disk.parent.split("/", 1)[0]
    fsid = ctx.rbd.fsid()
    with contextlib.suppress(CowshedError):
        for url in ctx.client.show(record.image_id).locations:
            loc = RbdLocation.parse(url)
            if loc is not None and loc.fsid == fsid:
                return loc.pool
    return None


def direct_snapshot(ctx: NodeContext, disk: InstanceDisk, image: ImageMeta, pool: str
                    ) -> ImageMeta:
    """Make ``image`` (just created, queued) from ``disk`` inside Ceph; see the module doc."""
    rbd = ctx.rbd
    name = disk.path.split("/", 1)[1]
    temp = uuid.uuid4().hex
    rbd.snap_create(name, temp)
    try:
        rbd.clone_into(name, temp, pool, image.id)
        try:
            rbd.flatten(image.id, pool=pool)
        finally:
            rbd.snap_remove(name, temp)
        rbd.snap_create(image.id, "snap", pool=pool)
        url = rbd_url(rbd.fsid(), pool, image.id, "snap")
        ctx.client.add_location(image.id, url, {})
        return _wait_active(ctx, image.id)
    except BaseException:
        rbd.snap_remove(name, temp)
        with contextlib.suppress(CowshedError):
            rbd.snap_remove(image.id, "snap", pool=pool)
            rbd.remove(image.id, pool=pool, retries=2, interval=1.0)
        raise


def _wait_active(ctx: NodeContext, image_id: str) -> ImageMeta:
    deadline = time.monotonic() + ACTIVATE_TIMEOUT
    delay = 0.1
    while True:
        meta = ctx.client.show(image_id)
        if meta.status == "active":
            return meta
        if meta.status not in ("importing", "saving"):
            raise InvalidRequest(
                f"the image service did not accept the snapshot's location (image {image_id} "
                f"is {meta.status})")
        if time.monotonic() > deadline:
            raise BackendUnavailable(f"image {image_id} still {meta.status} after "
                                     f"{ACTIVATE_TIMEOUT:.0f} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
