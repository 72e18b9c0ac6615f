"""The RBD backend: objects are RBD images in one Ceph pool, driven through librbd.

Objects and states:

* a **committed object** is an image whose name is a valid key. Written objects carry a
  protected snapshot ``snap`` (made before publication), the clone source that Nova and Cinder
  use; clones made by :meth:`RbdBackend.clone` have none until someone creates one.
* an **incomplete object** is an image named ``.incoming.<key>.<random>`` (see ``_writer``).

Reads (``open_read``, ``stat``) use the image head, opened read-only. For an image written
through a writer, head and ``snap`` hold the same bytes (nothing writes an image after commit),
but the head also reflects ``resize`` and, for volumes, what a VM wrote — so it is the one view
that is right for every object.

Locations: :meth:`RbdBackend.location` is the Glance form ``rbd://<fsid>/<pool>/<key>/snap``;
:meth:`RbdBackend.clone` returns ``rbd://<fsid>/<pool>/<key>`` (no snapshot), because a fresh
clone is a mutable image without ``snap`` — publish it as an image only after
``create_snapshot(key, "snap")``, as Nova's direct snapshot does (clone, flatten, snap).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from cowshed.backends.base import Capabilities, ObjectInfo, StoredObject
from cowshed.backends.rbd._cluster import (
    SNAP_NAME,
    Bindings,
    Cluster,
    check_key,
    check_snap,
    incoming_name,
    is_incoming,
    is_key,
    load_bindings,
    rbd_uri,
)
from cowshed.backends.rbd._config import RbdConfig
from cowshed.backends.rbd._errors import map_rbd_errors
from cowshed.backends.rbd._reader import read_chunks
from cowshed.backends.rbd._writer import RbdWriter, remove_image
from cowshed.errors import AlreadyExists, InUse, InvalidRequest, NotFound

log = logging.getLogger(__name__)

#: aio_reads queued ahead of the consumer.
READAHEAD = 3


class RbdBackend:
    """A store of RBD images in ``rbd_store_pool``; one RADOS connection, thread-safe."""

    kind = "rbd"

    def __init__(self, name: str, config: RbdConfig, bindings: Bindings) -> None:
        self.name = name
        self.config = config
        self._lib = bindings
        self._cluster = Cluster(name, config, bindings)
        self.capabilities = Capabilities(
            random_read=True, local_files=False, thin=config.rbd_thin_provisioning,
            snapshots=True, clone=True, flatten=True, resize=True, shared_across_nodes=True,
        )

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, object]) -> RbdBackend:
        """Validate ``options`` (ConfigError) and import the bindings; connects on first use."""
        config = RbdConfig.from_options(name, options)
        return cls(name, config, load_bindings(name))

    # -- helpers --------------------------------------------------------------------------------

    def _what(self, action: str, key: str) -> str:
        return f"{action} {key!r} in store {self.name!r}"

    @contextlib.contextmanager
    def _image(self, key: str, what: str, read_only: bool = True) -> Iterator[Any]:
        """An open ``rbd.Image`` of ``key`` (head), closed afterwards; errors mapped."""
        with map_rbd_errors(what):
            image = self._lib.rbd.Image(self._cluster.ioctx(), key, read_only=read_only)
            try:
                yield image
            finally:
                image.close()

    def _children(self, image: Any, snap: str) -> list[str]:
        """``pool/image`` of every clone of ``snap`` (including clones in the trash)."""
        image.set_snap(snap)
        try:
            return [f"{c['pool']}/{c['image']}" for c in image.list_children2()]
        finally:
            image.set_snap(None)

    def _refuse_if_needed(self, image: Any, key: str, snaps: list[str]) -> None:
        """InUse when a clone depends on one of ``snaps`` or another client has ``key`` open."""
        for snap in snaps:
            children = self._children(image, snap)
            if children:
                raise InUse(f"{key}@{snap} has clones: {', '.join(sorted(children))}")
        if list(image.watchers_list()):
            raise InUse(f"{key} is open by another client")

    # -- the Protocol ---------------------------------------------------------------------------

    def open_writer(self, key: str, size_hint: int | None) -> RbdWriter:
        check_key(key)
        if size_hint is not None and size_hint < 0:
            raise InvalidRequest("size_hint must not be negative")
        if self.exists(key):
            raise AlreadyExists(f"object {key!r} exists in store {self.name!r}")
        return RbdWriter(self._cluster, key, size_hint, self.location(key))

    def open_read(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        check_key(key)
        if offset < 0 or (length is not None and length < 0):
            raise InvalidRequest("offset and length must not be negative")
        what = self._what("reading", key)
        with map_rbd_errors(what):
            image = self._lib.rbd.Image(self._cluster.ioctx(), key, read_only=True)
            try:
                size = int(image.size())
            except BaseException:
                image.close()
                raise
        end = size if length is None else min(size, offset + length)
        if offset >= end:
            image.close()
            return iter(())
        return read_chunks(image, offset, end, self.config.chunk_bytes, READAHEAD, what)

    def stat(self, key: str) -> ObjectInfo:
        """Size and allocated bytes: the extents written to the image itself (not its parent).

        ``diff_iterate`` without ``whole_object`` reports data extents inside each RBD object,
        so a 4 MiB write into an 8 MiB object counts 4 MiB (``rbd du`` would say 8 MiB).
        """
        check_key(key)
        with self._image(key, self._what("stat of", key)) as image:
            size = int(image.size())
            extents: list[int] = []

            def count(offset: int, length: int, exists: bool) -> int:
                if exists:
                    extents.append(length)
                return 0

            if size:
                image.diff_iterate(0, size, None, count, include_parent=False, whole_object=False)
        return ObjectInfo(key=key, size=size, allocated=sum(extents))

    def exists(self, key: str) -> bool:
        if not is_key(key):
            return False
        try:
            with self._image(key, self._what("looking up", key)):
                return True
        except NotFound:
            return False

    def delete(self, key: str) -> None:
        """Remove ``key`` with its snapshots, or raise InUse and change nothing.

        Everything that could refuse is checked first (clones of any snapshot, other clients
        with the image open); unprotecting is undone if one fails, so ``snap`` is never lost
        while a clone needs it.
        """
        check_key(key)
        what = self._what("deleting", key)
        with self._image(key, what) as image:
            snaps = [str(s["name"]) for s in image.list_snaps()]
            self._refuse_if_needed(image, key, snaps)
        with self._image(key, what, read_only=False) as image:
            self._unprotect_all(image, snaps)
            for snap in snaps:
                image.remove_snap(snap)
        with map_rbd_errors(what):
            self._lib.rbd.RBD().remove(self._cluster.ioctx(), key)

    @staticmethod
    def _unprotect_all(image: Any, snaps: list[str]) -> None:
        done: list[str] = []
        try:
            for snap in snaps:
                if image.is_protected_snap(snap):
                    image.unprotect_snap(snap)
                    done.append(snap)
        except BaseException:
            for snap in done:
                with contextlib.suppress(Exception):
                    image.protect_snap(snap)
            raise

    def location(self, key: str) -> str:
        return rbd_uri(self._cluster.fsid(), self.config.rbd_store_pool, check_key(key), SNAP_NAME)

    def local_path(self, key: str) -> str | None:
        return None

    def keys(self) -> Iterator[str]:
        with map_rbd_errors(f"listing store {self.name!r}"):
            names = [str(n) for n in self._lib.rbd.RBD().list(self._cluster.ioctx())]
        return (name for name in names if is_key(name))

    def cleanup_incomplete(self) -> int:
        """Remove ``.incoming.`` images that no client has open; return how many.

        An image still open (a live writer, in this or another process) is skipped. A crashed
        client's watch expires after ~30 s (``osd_client_watch_timeout``), so its leftovers go
        on a later call.
        """
        with map_rbd_errors(f"listing store {self.name!r}"):
            names = [str(n) for n in self._lib.rbd.RBD().list(self._cluster.ioctx())]
        removed = 0
        for name in filter(is_incoming, names):
            try:
                with self._image(name, self._what("checking", name)) as image:
                    if list(image.watchers_list()):
                        continue
                with map_rbd_errors(self._what("removing", name)):
                    remove_image(self._cluster, name)
                removed += 1
            except NotFound:
                continue
        return removed

    def describe(self) -> Mapping[str, object]:
        return {
            "pool": self.config.rbd_store_pool,
            "chunk_size": self.config.chunk_bytes,
            "thin_provisioning": self.config.rbd_thin_provisioning,
            "fsid": self._cluster.fsid(),
        }

    def close(self) -> None:
        self._cluster.close()

    # -- optional operations --------------------------------------------------------------------

    def create_snapshot(self, key: str, snap: str) -> None:
        """Create and protect ``key@snap`` (protection is what lets clones use it)."""
        check_key(key)
        check_snap(snap)
        with self._image(key, self._what(f"snapshotting {snap!r} of", key), False) as image:
            image.create_snap(snap)
            try:
                image.protect_snap(snap)
            except BaseException:
                with contextlib.suppress(Exception):
                    image.remove_snap(snap)
                raise

    def delete_snapshot(self, key: str, snap: str) -> None:
        """Remove ``key@snap``; InUse (nothing changed) while clones depend on it."""
        check_key(key)
        check_snap(snap)
        what = self._what(f"deleting snapshot {snap!r} of", key)
        with self._image(key, what, read_only=False) as image:
            if not image.snap_exists(snap):
                raise NotFound(f"{what}: no such snapshot")
            children = self._children(image, snap)
            if children:
                raise InUse(f"{key}@{snap} has clones: {', '.join(sorted(children))}")
            if image.is_protected_snap(snap):
                image.unprotect_snap(snap)
            image.remove_snap(snap)

    def clone(self, src_key: str, snap: str, dst_key: str) -> StoredObject:
        """Layered clone of ``src_key@snap`` as ``dst_key`` in the same pool.

        The clone is made under an ``.incoming.`` name and renamed, so it appears whole or not
        at all. Its location has no snapshot component (see the module docstring).
        """
        for key in (src_key, dst_key):
            check_key(key)
        check_snap(snap)
        if self.exists(dst_key):
            raise AlreadyExists(f"object {dst_key!r} exists in store {self.name!r}")
        rbd, ioctx = self._lib.rbd, self._cluster.ioctx()
        temp = incoming_name(dst_key)
        with map_rbd_errors(self._what(f"cloning {src_key}@{snap} as", dst_key)):
            rbd.RBD().clone(ioctx, src_key, snap, ioctx, temp)
        try:
            with map_rbd_errors(self._what("publishing clone", dst_key)):
                rbd.RBD().rename(ioctx, temp, dst_key)
        except BaseException:
            with contextlib.suppress(Exception):
                remove_image(self._cluster, temp)
            raise
        size = self.stat(dst_key).size
        location = rbd_uri(self._cluster.fsid(), self.config.rbd_store_pool, dst_key, None)
        return StoredObject(key=dst_key, size=size, location=location)

    def flatten(self, key: str) -> None:
        """Copy the parent's data into ``key`` and detach it; a no-op for a non-clone."""
        check_key(key)
        with self._image(key, self._what("flattening", key), read_only=False) as image:
            try:
                image.parent_id()
            except self._lib.rbd.ImageNotFound:
                return
            image.flatten()

    def resize(self, key: str, size: int) -> None:
        check_key(key)
        if size < 0:
            raise InvalidRequest("size must not be negative")
        with self._image(key, self._what("resizing", key), read_only=False) as image:
            image.resize(size)
