"""Lazy bindings, object naming and the one RADOS connection of an RBD store.

``rados`` and ``rbd`` are imported only when a store connects, so cowshed runs without Ceph.
Their objects are untyped; this module and its siblings keep them behind typed functions.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from cowshed.backends.rbd._config import RbdConfig
from cowshed.backends.rbd._errors import map_rbd_errors
from cowshed.errors import (
    BackendUnavailable,
    BackendUnreachable,
    ConfigError,
    CowshedError,
    InvalidRequest,
)

#: the snapshot every committed write gets, protected, as glance_store names it.
SNAP_NAME = "snap"
ZERO_FSID = "00000000-0000-0000-0000-000000000000"
#: how long to wait for librados to report the real fsid after connecting.
FSID_TIMEOUT = 10.0

#: set on every connection. The writer refills its chunk buffer, and callers refill the
#: bytearrays it passes on, as soon as ``aio_write`` returns, which is only safe while librbd
#: copies the data inside the call (the default).
_CLIENT_CONF = {"rbd_disable_zero_copy_writes": "true"}

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
#: in-progress images: ``.incoming.<key>.<12 hex>``; a leading dot is never a valid key.
_INCOMING = re.compile(r"^\.incoming\.(?P<key>.+)\.[0-9a-f]{12}$")


def bindings_hint() -> str:
    """How to get the Ceph bindings into *this* interpreter, as a command that works as written
    (Debian installs them for the system Python only; the helper links them into a venv)."""
    return (f"apt-get install python3-rados python3-rbd, then {sys.executable} -m "
            f"cowshed.dev.ceph_bindings")


@dataclass(frozen=True)
class Bindings:
    """The imported ``rados`` and ``rbd`` modules."""

    rados: ModuleType
    rbd: ModuleType


def load_bindings(store: str) -> Bindings:
    """Import the Ceph bindings; ConfigError with the install hint when they are missing."""
    try:
        # importlib, not ``import``: the names are looked up at run time only, so type checkers
        # never confuse them with a local module of the same name (bench/rbd.py).
        rados = importlib.import_module("rados")
        rbd = importlib.import_module("rbd")
    except ImportError as exc:
        raise ConfigError(
            f"store {store!r}: Ceph bindings unavailable ({exc}); {bindings_hint()}"
        ) from exc
    return Bindings(rados=rados, rbd=rbd)


def check_key(key: str) -> str:
    """``key`` if it can name an object (same alphabet as the file store), else InvalidRequest."""
    if not _KEY.match(key):
        raise InvalidRequest(f"invalid object key {key!r}")
    return key


def check_snap(snap: str) -> str:
    if not _KEY.match(snap):
        raise InvalidRequest(f"invalid snapshot name {snap!r}")
    return snap


def incoming_name(key: str) -> str:
    """A fresh name for an image being written (or cloned) that will be published as ``key``."""
    return f".incoming.{key}.{secrets.token_hex(6)}"


def is_incoming(name: str) -> bool:
    return _INCOMING.match(name) is not None


def is_key(name: str) -> bool:
    return _KEY.match(name) is not None


def rbd_uri(fsid: str, pool: str, key: str, snap: str | None) -> str:
    """``rbd://fsid/pool/key[/snap]`` with every component percent-encoded (glance_store)."""
    parts = [fsid, pool, key] + ([snap] if snap is not None else [])
    return "rbd://" + "/".join(quote(part, safe="") for part in parts)


def read_fsid(client: Any, timeout: float = FSID_TIMEOUT) -> str:
    """``client.get_fsid()`` once it is not all zeros, else BackendUnavailable.

    Ceph 16 race: right after ``connect()`` librados may report the zero fsid until the monmap
    arrives. Publishing it would make every location unusable, so we wait for the real one.
    """
    deadline = time.monotonic() + timeout
    while True:
        with map_rbd_errors("reading the Ceph fsid"):
            fsid = str(client.get_fsid())
        if fsid and fsid != ZERO_FSID:
            return fsid
        if time.monotonic() > deadline:
            raise BackendUnavailable("Ceph reported no cluster fsid (all zeros) in time")
        time.sleep(0.02)


@dataclass(frozen=True)
class _Opened:
    """A live connection: the ``rados.Rados``, the pool's ``rados.Ioctx`` and the fsid."""

    client: Any
    ioctx: Any
    fsid: str


class Cluster:
    """One librados connection and pool context, opened on first use and shared by threads.

    librados handles are thread-safe; the lock only guards connecting and closing. A failed
    connect leaves nothing behind, so the next call tries again.
    """

    def __init__(self, store: str, config: RbdConfig, bindings: Bindings) -> None:
        self.store = store
        self.config = config
        self.lib = bindings
        self._lock = threading.Lock()
        self._conn: _Opened | None = None
        self._closed = False

    def ioctx(self) -> Any:
        """The pool's ``rados.Ioctx``; connects on first use."""
        return self._connect().ioctx

    def client(self) -> Any:
        """The ``rados.Rados`` connection (for monitor commands); connects on first use."""
        return self._connect().client

    def fsid(self) -> str:
        """The cluster fsid (never the all-zero placeholder); connects on first use."""
        return self._connect().fsid

    def _connect(self) -> _Opened:
        with self._lock:
            if self._closed:
                raise BackendUnavailable(f"store {self.store!r} is closed")
            if self._conn is not None:
                return self._conn
            try:
                self._conn = self._open()
                return self._conn
            except CowshedError as exc:
                # Whatever librados says here (a missing pool or conf file looks like ENOENT),
                # the store is unusable: that is "unavailable", never "object not found"; a
                # cluster that did not answer in time stays "unreachable" (it may come back).
                unusable = BackendUnreachable if isinstance(exc, BackendUnreachable) \
                    else BackendUnavailable
                raise unusable(
                    f"store {self.store!r}: cannot use Ceph pool "
                    f"{self.config.rbd_store_pool!r}: {exc.message}"
                ) from exc

    def _open(self) -> _Opened:
        cfg = self.config
        if cfg.rbd_store_ceph_conf and not Path(cfg.rbd_store_ceph_conf).is_file():
            raise BackendUnavailable(
                f"rbd_store_ceph_conf {cfg.rbd_store_ceph_conf} does not exist; set it to the "
                f"cluster's ceph.conf (for a dev cluster, the path `cowshed dev ceph up` prints)")
        if not cfg.rbd_store_ceph_conf and not any(p.is_file() for p in _default_confs()):
            searched = ", ".join(str(p) for p in _default_confs())
            raise BackendUnavailable(
                f"no ceph.conf found (rbd_store_ceph_conf is empty; librados looked for "
                f"{searched}): set rbd_store_ceph_conf in [stores.{self.store}]")
        with map_rbd_errors("connecting to Ceph"):
            client = self.lib.rados.Rados(
                conffile=cfg.rbd_store_ceph_conf, rados_id=cfg.rbd_store_user,
                conf={**cfg.rados_conf(), **_CLIENT_CONF},
            )
        try:
            with map_rbd_errors("connecting to Ceph"):
                client.connect()
            fsid = read_fsid(client)
            with map_rbd_errors("opening the pool"):
                ioctx = client.open_ioctx(cfg.rbd_store_pool)
        except BaseException:
            client.shutdown()
            raise
        return _Opened(client, ioctx, fsid)

    def close(self) -> None:
        """Close the pool context and the connection; later calls raise BackendUnavailable."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.ioctx.close()
            conn.client.shutdown()


def _default_confs() -> list[Path]:
    """Where librados looks for ceph.conf when it is given none (``$CEPH_CONF`` first)."""
    env = os.environ.get("CEPH_CONF")
    found = [Path(env)] if env else []
    return [*found, Path("/etc/ceph/ceph.conf"), Path("~/.ceph/config").expanduser(),
            Path("ceph.conf")]
