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
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cowshed.backends.base import Capabilities, Capacity, CloneCost, ObjectInfo, StoredObject
from cowshed.backends.rbd._block import RbdBlock
from cowshed.backends.rbd._cluster import (
    SNAP_NAME,
    Bindings,
    Cluster,
    check_key,
    incoming_name,
    is_incoming,
    is_key,
    load_bindings,
    rbd_uri,
)
from cowshed.backends.rbd._config import RbdConfig
from cowshed.backends.rbd._errors import map_rbd_errors
from cowshed.backends.rbd._layering import RbdLayering
from cowshed.backends.rbd._reader import read_chunks
from cowshed.backends.rbd._writer import RbdWriter, remove_image
from cowshed.errors import AlreadyExists, CowshedError, InUse, InvalidRequest, NotFound

log = logging.getLogger(__name__)


class RbdBackend(RbdLayering):
    """A store of RBD images in ``rbd_store_pool``; one RADOS connection, thread-safe.

    Snapshots, clones, extend and attach info live in ``_layering``.
    """

    kind = "rbd"

    def __init__(self, name: str, config: RbdConfig, bindings: Bindings) -> None:
        self.name = name
        self.config = config
        self._lib = bindings
        self._cluster = Cluster(name, config, bindings)
        self.capabilities = Capabilities(
            random_read=True, local_files=False, thin=config.rbd_thin_provisioning,
            snapshots=True, clone=True, flatten=True, extend=True, shared_across_nodes=True,
            reflink=False, attach=True, clone_cost=CloneCost.CONSTANT,
            clones_depend_on_parent=True,
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

    def _publish_new(self, key: str, make: Callable[[str], None]) -> StoredObject:
        """Run ``make(temp_name)`` and rename the result to ``key``: whole or absent."""
        check_key(key)
        if self.exists(key):
            raise AlreadyExists(f"object {key!r} exists in store {self.name!r}")
        rbd, ioctx = self._lib.rbd, self._cluster.ioctx()
        temp = incoming_name(key)
        try:
            make(temp)
            with map_rbd_errors(self._what("publishing", key)):
                rbd.RBD().rename(ioctx, temp, key)
        except BaseException:
            with contextlib.suppress(Exception):
                remove_image(self._cluster, temp)
            raise
        location = rbd_uri(self._cluster.fsid(), self.config.rbd_store_pool, key, None)
        return StoredObject(key=key, size=self.stat_size(key), location=location)

    def create(self, key: str, size: int) -> StoredObject:
        """An empty image (nothing allocated until written), with layering, no snapshot."""
        if size < 0:
            raise InvalidRequest("size must not be negative")

        def make(temp: str) -> None:
            with map_rbd_errors(self._what("creating", key)):
                self._lib.rbd.RBD().create(
                    self._cluster.ioctx(), temp, size, order=self.config.order,
                    old_format=False, features=self._lib.rbd.RBD_FEATURE_LAYERING)
        return self._publish_new(key, make)

    def copy(self, src_key: str, dst_key: str) -> StoredObject:
        """librbd's copy of the head (data extents only; a clone's parent data is copied)."""
        check_key(src_key)

        def make(temp: str) -> None:
            with self._image(src_key, self._what("copying", src_key)) as image:
                image.copy(self._cluster.ioctx(), temp,
                           features=self._lib.rbd.RBD_FEATURE_LAYERING, order=self.config.order)
        return self._publish_new(dst_key, make)

    def open_block(self, key: str) -> RbdBlock:
        check_key(key)
        with map_rbd_errors(self._what("opening", key)):
            image = self._lib.rbd.Image(self._cluster.ioctx(), key)
        try:
            return RbdBlock(image, key)
        except BaseException:
            image.close()
            raise

    def stat_size(self, key: str) -> int:
        with self._image(key, self._what("stat of", key)) as image:
            return int(image.size())

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
        return read_chunks(image, offset, end, self.config.chunk_bytes, what)

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

    def capacity(self) -> Capacity:
        """The pool's ``ceph df`` figures: what it stores plus ``max_avail`` (Ceph's estimate
        of what can still be written, after replication), as Cinder's RBD driver reports."""
        try:
            with map_rbd_errors(f"store {self.name!r}: reading pool usage"):
                ret, out, _ = self._cluster.client().mon_command(
                    json.dumps({"prefix": "df", "format": "json"}), b"", timeout=10)
        except CowshedError:
            return Capacity(None, None)
        if ret != 0:
            return Capacity(None, None)
        for pool in json.loads(out).get("pools", []):
            if pool.get("name") == self.config.rbd_store_pool:
                stats = pool.get("stats", {})
                free = int(stats.get("max_avail", 0))
                return Capacity(total_bytes=int(stats.get("stored", 0)) + free, free_bytes=free)
        return Capacity(None, None)

    def close(self) -> None:
        self._cluster.close()
