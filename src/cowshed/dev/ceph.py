"""A single-host Ceph cluster for tests and demos: one ceph-mon and N memstore ceph-osds.

Everything lives under one directory (see :class:`~cowshed.dev.ceph_conf.CephPaths`): the
``ceph.conf`` clients use, daemon data, admin sockets, logs and one pid file per daemon. The
cluster has no ceph-mgr and no cephx; data lives in the OSDs' RAM (``memstore``), so it is fast
and disappears on :meth:`DevCephCluster.down`, which stops only the daemons named by this
directory's pid files (never other clusters on the same host).

Usage::

    cluster = DevCephCluster(Path("/tmp/c1"))
    cluster.up()                  # ~1 s; pools "images" and "volumes" ready for RBD
    ... rados.Rados(conffile=str(cluster.conf_path)) ...
    cluster.down()
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cowshed.dev import _procs
from cowshed.dev._procs import pid_is_ours
from cowshed.dev.ceph_admin import CephAdmin
from cowshed.dev.ceph_conf import (
    CRUSH_HOST,
    MON_ID,
    CephPaths,
    ConfSettings,
    GiB,
    free_port,
    render_conf,
)
from cowshed.errors import ExternalToolError

#: the programs ``up`` runs and the Debian packages that ship them.
CEPH_PROGRAMS = {"monmaptool": "ceph-base", "ceph-mon": "ceph-mon", "ceph-osd": "ceph-osd"}

__all__ = ["DEFAULT_POOLS", "CephStatus", "DevCephCluster", "pid_is_ours"]

DEFAULT_POOLS = ("images", "volumes")
_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class CephStatus:
    """What :meth:`DevCephCluster.status` reports."""

    running: bool
    conf_path: Path
    fsid: str | None = None
    mon_addr: str | None = None
    #: daemon name (``mon.a``, ``osd.0``) → pid while it runs, else None.
    daemons: Mapping[str, int | None] = field(default_factory=dict)
    pools: tuple[str, ...] = ()
    #: PG state → count, read from the OSDs.
    pg_states: Mapping[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """All daemons run and every PG is active+clean."""
        daemons_up = bool(self.daemons) and all(pid is not None for pid in self.daemons.values())
        pgs_clean = bool(self.pg_states) and set(self.pg_states) == {"active+clean"}
        return self.running and daemons_up and pgs_clean


class DevCephCluster:
    """One mon + ``osds`` memstore OSDs under ``dir``; see the module docstring."""

    def __init__(
        self,
        dir: Path,
        osds: int = 1,
        port: int | None = None,
        memstore_bytes: int = 4 * GiB,
        pools: Sequence[str] = DEFAULT_POOLS,
        pg_num: int = 16,
        start_timeout: float = 60.0,
        pool_size: int = 1,
        pool_min_size: int = 1,
    ) -> None:
        if osds < 1:
            raise ValueError("a cluster needs at least one OSD")
        if not 1 <= pool_size <= osds:
            raise ValueError(f"pool size must be 1…{osds} (one copy per OSD at most)")
        if not 1 <= pool_min_size <= pool_size:
            raise ValueError(f"pool min size must be 1…{pool_size} (the pool size)")
        self.paths = CephPaths(Path(dir).absolute())
        self.osds = osds
        self.port = port
        self.memstore_bytes = memstore_bytes
        self.pools = tuple(pools)
        self.pg_num = pg_num
        self.start_timeout = start_timeout
        self.pool_size = pool_size
        self.pool_min_size = pool_min_size
        self.fsid: str | None = None

    @property
    def conf_path(self) -> Path:
        return self.paths.conf

    def __enter__(self) -> DevCephCluster:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # -- lifecycle ------------------------------------------------------------------------------

    def up(self) -> None:
        """Start the cluster and return once every pool's PGs are active+clean.

        Idempotent: when this directory's daemons already run, it only re-reads the fsid.
        Stale state from a crashed run is removed first. On failure everything started is
        stopped again and ExternalToolError says which step failed (logs stay in ``log/``).
        """
        if self._alive_daemons() and self.paths.state_file.exists():
            self.fsid = str(json.loads(self.paths.state_file.read_text())["fsid"])
            return
        _procs.require_programs(CEPH_PROGRAMS)
        self.down()
        for directory in (self.paths.run_dir, self.paths.pid_dir, self.paths.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as undo:
            undo.callback(self.down)
            settings = self._start_mon()
            admin = CephAdmin(self.conf_path, connect_timeout=self.start_timeout)
            undo.callback(admin.close)
            if admin.fsid != settings.fsid:
                raise ExternalToolError(f"port {settings.port} answers for another cluster")
            deadline = time.monotonic() + self.start_timeout
            osd_ids = self._start_osds(admin)
            self._wait(lambda: all(admin.osds_up().get(i) for i in osd_ids), deadline, "OSDs up")
            for pool in self.pools:
                admin.create_pool(pool, self.pg_num)
            self._wait(lambda: set(admin.pg_summary()) == {"active+clean"}, deadline, "PGs clean")
            self._write_state(settings, osd_ids)
            self.fsid = settings.fsid
            admin.close()
            undo.pop_all()

    def down(self) -> None:
        """Stop this directory's daemons (by pid file) and remove its runtime state.

        OSDs get SIGKILL: on a clean stop memstore writes all its RAM contents to disk, which is
        slow and pointless since the state is discarded. The mon gets SIGTERM, then SIGKILL.
        Logs under ``log/`` are kept.
        """
        pid_files = sorted(self.paths.pid_dir.glob("*.pid")) if self.paths.pid_dir.exists() else []
        for pid_file in pid_files:
            name = pid_file.name.removesuffix(".pid")
            self._stop(name, int(pid_file.read_text().strip() or 0))
            pid_file.unlink(missing_ok=True)
        for entry in self.paths.runtime_entries():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        self.fsid = None

    def status(self) -> CephStatus:
        """The cluster as seen from its directory and, when it runs, from the cluster itself."""
        daemons = self._daemon_pids()
        if not self.paths.state_file.exists() or not any(daemons.values()):
            return CephStatus(running=False, conf_path=self.conf_path, daemons=daemons)
        state = json.loads(self.paths.state_file.read_text())
        admin = CephAdmin(self.conf_path, connect_timeout=10)
        try:
            pools = tuple(sorted(admin.pools()))
            pg_states = admin.pg_summary()
        finally:
            admin.close()
        return CephStatus(
            running=True, conf_path=self.conf_path, fsid=str(state["fsid"]),
            mon_addr=str(state["mon_addr"]), daemons=daemons, pools=pools, pg_states=pg_states,
        )

    # -- pools (for tests that want a fresh, empty pool) ----------------------------------------

    def create_pool(self, name: str, pg_num: int = 8) -> None:
        """Create ``name`` for RBD and wait until its PGs are active+clean."""
        admin = CephAdmin(self.conf_path, connect_timeout=10)
        try:
            admin.create_pool(name, pg_num)
            pool_id = admin.pool_ids()[name]
            pgids = [f"{pool_id}.{i:x}" for i in range(pg_num)]
            self._wait(
                lambda: all(admin.pg_state(pg) == "active+clean" for pg in pgids),
                time.monotonic() + self.start_timeout, f"pool {name} clean",
            )
        finally:
            admin.close()

    def delete_pool(self, name: str) -> None:
        admin = CephAdmin(self.conf_path, connect_timeout=10)
        try:
            admin.delete_pool(name)
        finally:
            admin.close()

    # -- OSD faults (for tests of a cluster that loses and regains an OSD) -----------------------

    def stop_osd(self, osd_id: int) -> None:
        """Stop ``osd.<id>`` cleanly (SIGTERM) and return once the mon has it down.

        The OSD announces its shutdown to the mon (``osd fast shutdown`` is off), so the PGs it
        served re-peer on their other copies at once; memstore saves its data to ``osd.<id>/``,
        so :meth:`start_osd` brings it back with what it held, and recovery adds what it missed.
        """
        name = f"osd.{osd_id}"
        pid_file = self.paths.pid_file(name)
        pid = int(pid_file.read_text().strip() or 0) if pid_file.exists() else 0
        _procs.stop(pid, self.conf_path, signal.SIGTERM, grace=self.start_timeout)
        admin = CephAdmin(self.conf_path, connect_timeout=10)
        try:
            # a no-op when the OSD's own "mark me down" arrived; needed when it did not in time
            admin.command("osd down", {"ids": [str(osd_id)]})
            self._wait(lambda: not admin.osds_up().get(osd_id), time.monotonic() + 30,
                       f"{name} down")
        finally:
            admin.close()

    def start_osd(self, osd_id: int) -> None:
        """Start ``osd.<id>`` again (after :meth:`stop_osd`) and return once the mon has it up."""
        name = f"osd.{osd_id}"
        self._spawn(name, ["ceph-osd", "-c", str(self.conf_path), "-i", str(osd_id), "-f"])
        admin = CephAdmin(self.conf_path, connect_timeout=10)
        try:
            self._wait(lambda: bool(admin.osds_up().get(osd_id)),
                       time.monotonic() + self.start_timeout, f"{name} up")
        finally:
            admin.close()

    def wait_clean(self, timeout: float | None = None) -> None:
        """Return once every PG is active+clean (recovery done); ExternalToolError on timeout."""
        admin = CephAdmin(self.conf_path, connect_timeout=10)
        try:
            self._wait(lambda: set(admin.pg_summary()) == {"active+clean"},
                       time.monotonic() + (timeout or self.start_timeout), "PGs clean")
        finally:
            admin.close()

    # -- steps ----------------------------------------------------------------------------------

    def _start_mon(self) -> ConfSettings:
        """Write conf and monmap, mkfs and start the mon; retry on a port clash."""
        fsid = str(uuid.uuid4())
        last_error = ""
        for _ in range(_PORT_ATTEMPTS):
            settings = ConfSettings(fsid, self.port or free_port(), self.memstore_bytes,
                                    self.pool_size, self.pool_min_size)
            self.paths.conf.write_text(render_conf(self.paths, settings))
            shutil.rmtree(self.paths.mon_data, ignore_errors=True)
            self._run(["monmaptool", "--create", "--clobber", "--fsid", fsid,
                       "--addv", MON_ID, f"[{settings.mon_addr}]", str(self.paths.monmap)])
            self._run(["ceph-mon", "-c", str(self.conf_path), "--mkfs", "-i", MON_ID,
                       "--monmap", str(self.paths.monmap)])
            name = f"mon.{MON_ID}"
            pid = self._spawn(name, ["ceph-mon", "-c", str(self.conf_path), "-i", MON_ID, "-f"])
            if self._wait_listening(pid, settings.port):
                return settings
            last_error = self._log_tail(name)
            self._stop(name, pid)
            if self.port is not None:
                break
        raise ExternalToolError(f"ceph-mon did not start: {last_error}")

    def _start_osds(self, admin: CephAdmin) -> list[int]:
        """Register, mkfs (in parallel), start the OSDs and place them in CRUSH ourselves."""
        ids = {admin.osd_new(str(osd_uuid)): osd_uuid for osd_uuid in
               (uuid.uuid4() for _ in range(self.osds))}
        mkfs = []
        for osd_id, osd_uuid in ids.items():
            self.paths.osd_data(osd_id).mkdir(parents=True, exist_ok=True)
            mkfs.append(self._popen_quiet(["ceph-osd", "-c", str(self.conf_path), "-i",
                                           str(osd_id), "--mkfs", "--osd-uuid", str(osd_uuid)]))
        for proc in mkfs:
            output, _ = proc.communicate(timeout=self.start_timeout)
            if proc.returncode != 0:
                text = output.decode(errors="replace")[-2000:]
                raise ExternalToolError(f"ceph-osd --mkfs failed: {text}")
        for osd_id in ids:
            self._spawn(f"osd.{osd_id}",
                        ["ceph-osd", "-c", str(self.conf_path), "-i", str(osd_id), "-f"])
        admin.command("osd crush add-bucket", {"name": CRUSH_HOST, "type": "host"})
        admin.command("osd crush move", {"name": CRUSH_HOST, "args": ["root=default"]})
        for osd_id in ids:
            admin.command("osd crush add", {"id": osd_id, "weight": 1.0,
                                            "args": [f"host={CRUSH_HOST}"]})
        return sorted(ids)

    def _write_state(self, settings: ConfSettings, osd_ids: list[int]) -> None:
        state = {"fsid": settings.fsid, "port": settings.port, "mon_addr": settings.mon_addr,
                 "osds": osd_ids, "pools": list(self.pools)}
        self.paths.state_file.write_text(json.dumps(state, indent=2) + "\n")

    # -- processes ------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> int:
        """Start a daemon (foreground mode, own session) and record its pid."""
        pid = _procs.spawn(argv, self.paths.log_dir / f"{name}.out")
        self.paths.pid_file(name).write_text(f"{pid}\n")
        return pid

    def _stop(self, name: str, pid: int) -> None:
        sig = signal.SIGKILL if name.startswith("osd.") else signal.SIGTERM
        _procs.stop(pid, self.conf_path, sig)

    def _daemon_pids(self) -> dict[str, int | None]:
        if not self.paths.pid_dir.exists():
            return {}
        pids: dict[str, int | None] = {}
        for pid_file in sorted(self.paths.pid_dir.glob("*.pid")):
            pid = int(pid_file.read_text().strip() or 0)
            alive = pid > 0 and pid_is_ours(pid, self.conf_path)
            pids[pid_file.name.removesuffix(".pid")] = pid if alive else None
        return pids

    def _alive_daemons(self) -> bool:
        pids = self._daemon_pids()
        return bool(pids) and all(pid is not None for pid in pids.values())

    def _wait_listening(self, pid: int, port: int) -> bool:
        """True once the daemon accepts TCP connections; False if it exits or 10 s pass."""
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if _procs.has_exited(pid, self.conf_path):
                return False
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return not _procs.has_exited(pid, self.conf_path)
            time.sleep(0.02)
        return False

    @staticmethod
    def _wait(ready: Callable[[], bool], deadline: float, what: str) -> None:
        while not ready():
            if time.monotonic() > deadline:
                raise ExternalToolError(f"dev Ceph cluster: timed out waiting for {what}")
            time.sleep(0.1)

    @staticmethod
    def _popen_quiet(argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    def _run(self, argv: list[str]) -> None:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).decode(errors="replace")[-2000:]
            raise ExternalToolError(f"{argv[0]} failed ({proc.returncode}): {output}")

    def _log_tail(self, name: str) -> str:
        log = self.paths.log_dir / f"{name}.log"
        if not log.exists():
            return "(no log)"
        return "".join(log.read_text(errors="replace").splitlines(keepends=True)[-5:])
