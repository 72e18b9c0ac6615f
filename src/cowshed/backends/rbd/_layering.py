"""Snapshots, clones (across pools of one cluster), extend and attach info of the RBD backend.

Snapshots are always protected, as Cinder's are, so any of them can be cloned (clone v1 needs
it). A clone is made under an ``.incoming.`` name and renamed, so it appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from cowshed.backends.base import AttachInfo, Backend, ChildRef, SnapRef, StoredObject
from cowshed.backends.rbd._cluster import Cluster, check_key, check_snap, incoming_name, rbd_uri
from cowshed.backends.rbd._config import RbdConfig
from cowshed.backends.rbd._errors import map_rbd_errors
from cowshed.backends.rbd._reader import read_chunks
from cowshed.backends.rbd._writer import remove_image
from cowshed.errors import AlreadyExists, InUse, InvalidRequest, NotFound, UnsupportedOperation


class RbdLayering:
    """The optional protocols; mixed into ``RbdBackend``, which provides the helpers used."""

    name: str
    config: RbdConfig
    _cluster: Cluster

    # provided by RbdBackend
    def _what(self, action: str, key: str) -> str: raise NotImplementedError
    def _image(self, key: str, what: str, read_only: bool = True) -> Any: raise NotImplementedError
    def _children(self, image: Any, snap: str) -> list[str]: raise NotImplementedError
    def exists(self, key: str) -> bool: raise NotImplementedError
    def stat_size(self, key: str) -> int: raise NotImplementedError

    @property
    def space(self) -> str:
        return self.config.rbd_store_pool

    # -- snapshots ------------------------------------------------------------------------------

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

    def list_snapshots(self, key: str) -> list[str]:
        check_key(key)
        with self._image(key, self._what("listing snapshots of", key)) as image:
            snaps = sorted(image.list_snaps(), key=lambda s: int(s["id"]))
        return [str(s["name"]) for s in snaps]

    def open_snapshot_read(
        self, key: str, snap: str, offset: int = 0, length: int | None = None,
    ) -> Iterator[bytes]:
        check_key(key)
        check_snap(snap)
        what = self._what(f"reading snapshot {snap!r} of", key)
        lib = self._cluster.lib
        with map_rbd_errors(what):
            image = lib.rbd.Image(self._cluster.ioctx(), key, snapshot=snap, read_only=True)
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

    def revert_snapshot(self, key: str, snap: str) -> None:
        """``rollback_to_snap``: the head's bytes and size become the snapshot's."""
        check_key(key)
        check_snap(snap)
        what = self._what(f"reverting to snapshot {snap!r}", key)
        with self._image(key, what, read_only=False) as image:
            if not image.snap_exists(snap):
                raise NotFound(f"{what}: no such snapshot")
            snap_size = next(int(s["size"]) for s in image.list_snaps() if s["name"] == snap)
            if int(image.size()) != snap_size:
                image.resize(snap_size)
            image.rollback_to_snap(snap)

    # -- clones ---------------------------------------------------------------------------------

    def can_clone_from(self, source: Backend) -> bool:
        cluster = getattr(source, "_cluster", None)
        if not isinstance(cluster, Cluster) or not source.capabilities.clone:
            return False
        return cluster.fsid() == self._cluster.fsid()

    def clone(self, src_key: str, snap: str, dst_key: str, *,
              source: Backend | None = None) -> StoredObject:
        """Layered clone of ``src_key@snap`` (in ``source``'s pool) as ``dst_key`` here."""
        for key in (src_key, dst_key):
            check_key(key)
        check_snap(snap)
        parent_cluster = self._cluster
        other = getattr(source, "_cluster", None)
        if source is not None and other is not self._cluster:
            if not isinstance(other, Cluster) or not self.can_clone_from(source):
                raise UnsupportedOperation(f"store {self.name!r} cannot clone from "
                                           f"{source.name!r} (another cluster or driver)")
            parent_cluster = other
        if self.exists(dst_key):
            raise AlreadyExists(f"object {dst_key!r} exists in store {self.name!r}")
        rbd, ioctx = self._cluster.lib.rbd, self._cluster.ioctx()
        temp = incoming_name(dst_key)
        with map_rbd_errors(self._what(f"cloning {src_key}@{snap} as", dst_key)):
            rbd.RBD().clone(parent_cluster.ioctx(), src_key, snap, ioctx, temp,
                            features=rbd.RBD_FEATURE_LAYERING)
        try:
            with map_rbd_errors(self._what("publishing clone", dst_key)):
                rbd.RBD().rename(ioctx, temp, dst_key)
        except BaseException:
            with contextlib.suppress(Exception):
                remove_image(self._cluster, temp)
            raise
        location = rbd_uri(self._cluster.fsid(), self.config.rbd_store_pool, dst_key, None)
        return StoredObject(key=dst_key, size=self.stat_size(dst_key), location=location)

    def parent(self, key: str) -> SnapRef | None:
        check_key(key)
        lib = self._cluster.lib
        with self._image(key, self._what("reading the parent of", key)) as image:
            try:
                pool, parent, snap = image.parent_info()
            except lib.rbd.ImageNotFound:
                return None
        return SnapRef(str(pool), str(parent), str(snap))

    def children(self, key: str, snap: str) -> list[ChildRef]:
        """Clones of ``key@snap`` in any pool, including clones in the trash."""
        check_key(key)
        check_snap(snap)
        with self._image(key, self._what(f"listing clones of {snap!r} of", key)) as image:
            if not image.snap_exists(snap):
                raise NotFound(f"snapshot {key}@{snap} not found in store {self.name!r}")
            return [ChildRef(*child.split("/", 1)) for child in self._children(image, snap)]

    def flatten(self, key: str) -> None:
        """Copy the parent's data into ``key`` and detach it; a no-op for a non-clone."""
        check_key(key)
        with self._image(key, self._what("flattening", key), read_only=False) as image:
            try:
                image.parent_id()
            except self._cluster.lib.rbd.ImageNotFound:
                return
            image.flatten()

    # -- extend and attach ----------------------------------------------------------------------

    def extend(self, key: str, size: int) -> None:
        check_key(key)
        with self._image(key, self._what("extending", key), read_only=False) as image:
            current = int(image.size())
            if size < current:
                raise InvalidRequest(f"cannot shrink {key} from {current} to {size} bytes")
            if size > current:
                image.resize(size)

    def attach_info(self, key: str) -> AttachInfo:
        """Cinder's ``initialize_connection`` data for ``key``."""
        if not self.exists(key):
            raise NotFound(f"object {key!r} not found in store {self.name!r}")
        hosts, ports = self._monitors()
        user = self.config.rbd_store_user
        return AttachInfo("rbd", {
            "name": f"{self.config.rbd_store_pool}/{key}", "hosts": hosts, "ports": ports,
            "cluster_name": "ceph", "auth_enabled": user is not None,
            "auth_username": user, "secret_type": "ceph",
            "secret_uuid": self._cluster.fsid(), "discard": True,
        })

    def _monitors(self) -> tuple[list[str], list[str]]:
        """Monitor addresses from ``mon dump`` (as Cinder's ``_get_mon_addrs``)."""
        with map_rbd_errors("reading the monitor map"):
            ret, out, _ = self._cluster.client().mon_command(
                json.dumps({"prefix": "mon dump", "format": "json"}), b"")
        if ret != 0:
            return [], []
        hosts: list[str] = []
        ports: list[str] = []
        for mon in json.loads(out).get("mons", []):
            addr = str(mon.get("addr", "")).split("/", 1)[0]
            host, _, port = addr.rpartition(":")
            if host:
                hosts.append(host.strip("[]"))
                ports.append(port)
        return hosts, ports
