"""The node's Ceph client: instance disks in ``images_rbd_pool``, clones of image snapshots.

Unlike a store (:class:`cowshed.backends.rbd.RbdBackend`, one pool, objects named by key), the
node works across pools: it clones ``<images pool>/<image>@snap`` into ``<images_rbd_pool>``,
imports cached bases, formats librbd encryption, discards and removes disks, and reads the
monitor addresses for the libvirt XML. librados/librbd errors are translated by the RBD
backend's one mapping (:func:`cowshed.backends.rbd.map_rbd_errors`).
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from cowshed.backends.rbd import map_rbd_errors
from cowshed.backends.rbd._cluster import bindings_hint
from cowshed.errors import BackendUnavailable, ConfigError, InUse, NotFound
from cowshed.node.settings import NodeSettings

#: bytes per write while importing a base.
_IMPORT_CHUNK = 4 << 20
#: Nova's rbd_destroy_volume_retries x rbd_destroy_volume_retry_interval window (bug 1856845),
#: a crashed client's watch expires after ~30 s.
REMOVE_RETRIES = 12
REMOVE_INTERVAL = 5.0


@dataclass(frozen=True)
class RbdLocation:
    """A Glance RBD location ``rbd://<fsid>/<pool>/<image>/<snap>``."""

    fsid: str
    pool: str
    image: str
    snap: str

    @classmethod
    def parse(cls, url: str) -> RbdLocation | None:
        """The location, or None for anything that is not a 4-part rbd:// URL (Nova's
        ``is_cloneable`` rules: exactly four non-empty components)."""
        if not url.startswith("rbd://"):
            return None
        parts = urlsplit(url)
        pieces = [parts.netloc, *parts.path.lstrip("/").split("/")] if parts.path else []
        if len(pieces) != 4 or not all(pieces):
            return None
        fsid, pool, image, snap = (unquote(p) for p in pieces)
        return cls(fsid, pool, image, snap)


def rbd_url(fsid: str, pool: str, image: str, snap: str) -> str:
    """``rbd://fsid/pool/image/snap``, each part percent-encoded (glance_store's form)."""
    return "rbd://" + "/".join(quote(p, safe="") for p in (fsid, pool, image, snap))


@dataclass(frozen=True)
class CloneSource:
    """A snapshot that can be cloned: where, with which features, how big."""

    location: RbdLocation
    features: int
    size: int


@dataclass(frozen=True)
class RbdParent:
    pool: str
    image: str
    snap: str


def _bindings() -> tuple[ModuleType, ModuleType]:
    try:
        return importlib.import_module("rados"), importlib.import_module("rbd")
    except ImportError as exc:
        raise ConfigError(
            f"images_type = 'rbd' needs the Ceph bindings ({exc}): {bindings_hint()}"
        ) from exc


class NodeRbd:
    """One librados connection for the node, opened on first use; thread-safe."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.pool = settings.images_rbd_pool
        self._lock = threading.Lock()
        self._client: Any = None
        self._ioctxs: dict[str, Any] = {}
        #: facts of image snapshots opened before: a snapshot's size never changes, so a warm
        #: spawn skips the open (a third of its time); :meth:`forget` drops an entry whose
        #: snapshot went away (a clone from it failed).
        self._sources: dict[RbdLocation, CloneSource] = {}
        self.rados, self.lib = _bindings()

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                s = self.settings
                with map_rbd_errors("connecting to Ceph for instance disks"):
                    client = self.rados.Rados(conffile=s.images_rbd_ceph_conf or "",
                                              rados_id=s.images_rbd_user or None,
                                              conf={"rados_mon_op_timeout": "30",
                                                    "client_mount_timeout": "30"})
                    client.connect(timeout=30)
                self._client = client
            return self._client

    def ioctx(self, pool: str) -> Any:
        client = self._connect()
        with self._lock:
            if pool not in self._ioctxs:
                try:
                    with map_rbd_errors(f"opening pool {pool!r}"):
                        self._ioctxs[pool] = client.open_ioctx(pool)
                except NotFound as exc:
                    raise BackendUnavailable(f"Ceph pool {pool!r} does not exist") from exc
            return self._ioctxs[pool]

    def fsid(self) -> str:
        client = self._connect()
        deadline = time.monotonic() + 10
        while True:
            with map_rbd_errors("reading the Ceph fsid"):
                fsid = str(client.get_fsid())
            if fsid.strip("0-") or time.monotonic() > deadline:
                return fsid
            time.sleep(0.02)

    def mon_hosts(self) -> list[tuple[str, str]]:
        """``(host, port)`` of every monitor (``ceph mon dump``), for ``<host>`` elements."""
        client = self._connect()
        self.fsid()  # right after connect the client may not have the monmap yet
        for attempt in range(20):
            with map_rbd_errors("reading the monitor map"):
                ret, out, err = client.mon_command(json.dumps({"prefix": "mon dump",
                                                               "format": "json"}), b"")
            if ret == 0:
                break
            if "wrong fsid" not in str(err) or attempt == 19:
                raise BackendUnavailable(f"ceph mon dump failed: {err}")
            time.sleep(0.1)  # Ceph 16: commands race the first monmap ("wrong fsid")
        hosts = []
        for mon in json.loads(out).get("mons", []):
            addr = str(mon.get("addr") or mon.get("public_addr") or "").split("/")[0]
            host, _, port = addr.rpartition(":")
            if host:
                hosts.append((host.strip("[]"), port))
        return hosts

    def close(self) -> None:
        with self._lock:
            for ioctx in self._ioctxs.values():
                ioctx.close()
            self._ioctxs.clear()
            if self._client is not None:
                self._client.shutdown()
                self._client = None

    # -- images --------------------------------------------------------------------------

    def image(self, name: str, *, pool: str | None = None, read_only: bool = False,
              snapshot: str | None = None) -> Any:
        """An open ``rbd.Image`` (close it); NotFound if missing."""
        where = f"{pool or self.pool}/{name}"
        with map_rbd_errors(f"opening {where}"):
            return self.lib.Image(self.ioctx(pool or self.pool), name, snapshot=snapshot,
                                  read_only=read_only)

    def exists(self, name: str, pool: str | None = None) -> bool:
        try:
            self.image(name, pool=pool, read_only=True).close()
        except NotFound:
            return False
        return True

    def names(self, pool: str | None = None) -> list[str]:
        with map_rbd_errors(f"listing pool {pool or self.pool!r}"):
            return [str(n) for n in self.lib.RBD().list(self.ioctx(pool or self.pool))]

    def clone_source(self, loc: RbdLocation) -> CloneSource | None:
        """``loc``'s snapshot facts if it exists and can be opened (Nova's ``is_cloneable``),
        else None; one open serves the check, the features and the size. Remembered: the
        next call for ``loc`` answers from memory until :meth:`forget`."""
        with self._lock:
            known = self._sources.get(loc)
        if known is not None:
            return known
        found = self._open_source(loc)
        if found is not None:
            with self._lock:
                self._sources[loc] = found
        return found

    def forget(self, loc: RbdLocation) -> bool:
        """Drop what :meth:`clone_source` remembered of ``loc``; whether it had."""
        with self._lock:
            return self._sources.pop(loc, None) is not None

    def _open_source(self, loc: RbdLocation) -> CloneSource | None:
        try:
            image = self.image(loc.image, pool=loc.pool, read_only=True, snapshot=loc.snap)
        except (NotFound, BackendUnavailable):
            return None
        try:
            return CloneSource(loc, int(image.features()), int(image.size()))
        finally:
            image.close()

    def clone(self, src: CloneSource, name: str) -> None:
        """Layered clone of ``src`` as ``<pool>/<name>`` with the parent's features."""
        loc = src.location
        with map_rbd_errors(f"cloning {loc.pool}/{loc.image}@{loc.snap} as {self.pool}/{name}"):
            self.lib.RBD().clone(self.ioctx(loc.pool), loc.image, loc.snap,
                                 self.ioctx(self.pool), name, features=src.features)

    def create(self, name: str, size: int, pool: str | None = None) -> None:
        with map_rbd_errors(f"creating {pool or self.pool}/{name}"):
            self.lib.RBD().create(self.ioctx(pool or self.pool), name, size, old_format=False,
                                  features=self.lib.RBD_FEATURE_LAYERING)

    def parent(self, name: str, pool: str | None = None) -> RbdParent | None:
        image = self.image(name, pool=pool, read_only=True)
        try:
            spec = image.get_parent_image_spec()
        except self.lib.ImageNotFound:
            return None
        finally:
            image.close()
        return RbdParent(str(spec["pool_name"]), str(spec["image_name"]), str(spec["snap_name"]))

    def size(self, name: str, pool: str | None = None) -> int:
        image = self.image(name, pool=pool, read_only=True)
        try:
            return int(image.size())
        finally:
            image.close()

    def resize(self, name: str, size: int) -> None:
        image = self.image(name)
        try:
            with map_rbd_errors(f"resizing {self.pool}/{name}"):
                image.resize(size)
        finally:
            image.close()

    def rename(self, old: str, new: str) -> None:
        with map_rbd_errors(f"renaming {self.pool}/{old}"):
            self.lib.RBD().rename(self.ioctx(self.pool), old, new)

    def remove(self, name: str, pool: str | None = None, *,
               retries: int = REMOVE_RETRIES, interval: float = REMOVE_INTERVAL) -> bool:
        """Remove ``name``; False if it was not there. Retries while it is busy (a watcher
        from a VM that just stopped, bug 1856845), then raises InUse."""
        for attempt in range(retries + 1):
            try:
                with map_rbd_errors(f"removing {pool or self.pool}/{name}"):
                    self.lib.RBD().remove(self.ioctx(pool or self.pool), name)
                return True
            except NotFound:
                return False
            except InUse:
                if attempt == retries:
                    raise
                time.sleep(interval)
        return False

    def snap_create(self, name: str, snap: str, *, pool: str | None = None,
                    protect: bool = True) -> None:
        image = self.image(name, pool=pool)
        try:
            with map_rbd_errors(f"snapshotting {pool or self.pool}/{name}@{snap}"):
                image.create_snap(snap)
                if protect:
                    image.protect_snap(snap)
        finally:
            image.close()

    def snap_remove(self, name: str, snap: str, *, pool: str | None = None) -> None:
        """Unprotect (if needed) and remove ``name@snap``; a missing one is fine."""
        try:
            image = self.image(name, pool=pool)
        except NotFound:
            return
        try:
            with map_rbd_errors(f"removing {pool or self.pool}/{name}@{snap}"):
                if not image.snap_exists(snap):
                    return
                if image.is_protected_snap(snap):
                    image.unprotect_snap(snap)
                image.remove_snap(snap)
        finally:
            image.close()

    def clone_into(self, name: str, snap: str, pool: str, child: str) -> None:
        """Clone ``<self.pool>/name@snap`` into ``pool/child`` (the other direction)."""
        with map_rbd_errors(f"cloning {self.pool}/{name}@{snap} as {pool}/{child}"):
            self.lib.RBD().clone(self.ioctx(self.pool), name, snap, self.ioctx(pool), child,
                                 features=self.lib.RBD_FEATURE_LAYERING)

    def flatten(self, name: str, *, pool: str | None = None) -> None:
        image = self.image(name, pool=pool)
        try:
            with map_rbd_errors(f"flattening {pool or self.pool}/{name}"):
                image.flatten()
        finally:
            image.close()

    def import_file(self, path: Path, name: str, size: int, passphrase: bytes | None = None
                    ) -> None:
        """Write the data extents of raw file ``path`` into the new image ``name`` (created
        here, ``size`` bytes); all-zero pieces are skipped (the image stays thin). With
        ``passphrase`` the image is formatted luks2 first and written through librbd's
        encryption."""
        from cowshed.node.files_disks import data_extents

        self.create(name, size)
        image = self.image(name)
        try:
            if passphrase is not None:
                self.format_luks2(image, name, passphrase)
            with open(path, "rb") as fh, map_rbd_errors(f"importing into {self.pool}/{name}"):
                for start, end in data_extents(fh.fileno(), min(size, _file_size(path))):
                    _copy_range(fh, image, start, end)
                image.flush()
        finally:
            image.close()

    def format_luks2(self, image: Any, name: str, passphrase: bytes) -> None:
        """librbd luks2 on ``image``; formatting also loads it (a second load is EEXIST), so
        later writes through this handle go through the encryption."""
        with map_rbd_errors(f"formatting {self.pool}/{name} with luks2"):
            image.encryption_format(self.lib.RBD_ENCRYPTION_FORMAT_LUKS2, passphrase)


def _file_size(path: Path) -> int:
    return path.stat().st_size


def _copy_range(fh: Any, image: Any, start: int, end: int) -> None:
    pos = start
    fh.seek(start)
    while pos < end:
        data = fh.read(min(_IMPORT_CHUNK, end - pos))
        if not data:
            break
        if data.count(0) != len(data):
            image.write(data, pos)
        pos += len(data)
