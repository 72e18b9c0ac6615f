"""Pure parts of the dev Ceph cluster: its directory layout and its ``ceph.conf``.

Nothing here starts a process or talks to Ceph, so it is unit-tested without Ceph installed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30

#: the monitor's id; a dev cluster has exactly one.
MON_ID = "a"
#: the CRUSH host bucket every OSD is placed under (we add OSDs to CRUSH ourselves).
CRUSH_HOST = "devhost"


@dataclass(frozen=True)
class CephPaths:
    """Where a dev cluster keeps everything, all under one directory."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def state_file(self) -> Path:
        """JSON record of fsid, port and OSD ids, written once the cluster is up."""
        return self.root / "cluster.json"

    @property
    def monmap(self) -> Path:
        return self.root / "monmap"

    @property
    def mon_data(self) -> Path:
        return self.root / "mon"

    def osd_data(self, osd_id: int) -> Path:
        return self.root / f"osd.{osd_id}"

    @property
    def run_dir(self) -> Path:
        """Admin sockets."""
        return self.root / "run"

    @property
    def pid_dir(self) -> Path:
        """One ``<daemon>.pid`` file per daemon we started; ``down()`` kills only these."""
        return self.root / "pids"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def pid_file(self, daemon: str) -> Path:
        return self.pid_dir / f"{daemon}.pid"

    def runtime_entries(self) -> list[Path]:
        """Everything ``down()`` removes (logs are kept for post-mortems)."""
        fixed = [self.conf, self.state_file, self.monmap, self.mon_data, self.run_dir, self.pid_dir]
        osds = sorted(self.root.glob("osd.*"))
        return fixed + osds


@dataclass(frozen=True)
class ConfSettings:
    """The values that vary between dev clusters."""

    fsid: str
    port: int
    memstore_bytes: int
    #: copies of each object new pools keep, and how many must be up to serve I/O.
    pool_size: int = 1
    pool_min_size: int = 1

    @property
    def mon_addr(self) -> str:
        return f"v1:127.0.0.1:{self.port}"


_FIXED_GLOBAL = (
    "auth cluster required = none",
    "auth service required = none",
    "auth client required = none",
    "ms bind msgr2 = false",
    "ms bind ipv6 = false",
    "public network = 127.0.0.0/8",
    "public addr = 127.0.0.1",
    "cluster addr = 127.0.0.1",
    "log to stderr = false",
    "err to stderr = false",
    "osd pool default pg autoscale mode = off",
    "mon allow pool size one = true",
    "mon allow pool delete = true",
    "mon warn on pool no redundancy = false",
    "mon warn on insecure global id reclaim = false",
    "mon warn on insecure global id reclaim allowed = false",
    "mon data avail warn = 2",
    "mon data avail crit = 1",
    "paxos propose interval = 0.05",
    "osd crush update on start = false",
    "osd class update on start = false",
    "osd client watch timeout = 10",
    "osd objectstore = memstore",
    "osd crush chooseleaf type = 0",
    "osd fast shutdown = false",
)

#: clients (tests, the backend, the rbd CLI) share the name client.admin: one admin socket or
#: log file per name would make them trip over each other.
_CLIENT = ("[client]", "admin socket =", "log file = /dev/null")


def render_conf(paths: CephPaths, settings: ConfSettings) -> str:
    """The ``ceph.conf`` text for a single-host, auth-less, memstore cluster.

    Reasons for the less obvious settings:

    * ``osd crush update on start`` / ``osd class update on start`` off: the OSD's own CRUSH
      placement at boot can make a fresh OSD exit; the cluster adds OSDs to CRUSH itself.
    * ``paxos propose interval`` short: map changes (pool create, OSD boot) commit in ~50 ms.
    * pool size 1 by default and no redundancy warnings: one host, one copy, and tests want
      HEALTH_OK-ish. With several OSDs a larger ``pool_size`` keeps copies on distinct OSDs:
      ``osd crush chooseleaf type = 0`` makes the default CRUSH rule pick OSDs, not hosts
      (all OSDs sit under one host bucket).
    * ``osd fast shutdown`` off: a stopped OSD (SIGTERM) tells the mon it is going down at once,
      so its PGs re-peer on the surviving copies without waiting for heartbeat grace, and
      memstore saves its contents, so the OSD comes back with what it held.
    * ``mon data avail`` thresholds low: the mon shuts down at ``crit`` free space, and a busy
      shared disk is not a reason for a dev cluster to die.
    * ``ms bind msgr2`` off: one v1 address is all a loopback cluster needs.
    * ``osd client watch timeout`` 10 s (default 30): a crashed client's open images count as
      in use until its watch expires; tests of crash clean-up should not wait 30 s.
    """
    head = [
        "[global]",
        f"fsid = {settings.fsid}",
        f"mon host = {settings.mon_addr}",
        f"mon initial members = {MON_ID}",
        f"run dir = {paths.run_dir}",
        f"admin socket = {paths.run_dir}/$name.asok",
        f"log file = {paths.log_dir}/$name.log",
        f"memstore device bytes = {settings.memstore_bytes}",
        f"osd pool default size = {settings.pool_size}",
        f"osd pool default min size = {settings.pool_min_size}",
    ]
    tail = [
        "[mon]",
        f"mon data = {paths.mon_data}",
        "",
        "[osd]",
        f"osd data = {paths.root}/osd.$id",
        "",
    ]
    return "\n".join([*head, *_FIXED_GLOBAL, "", *_CLIENT, "", *tail])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
