"""A small typed librados admin client for the dev cluster: mon commands, PG states, pools.

The dev cluster runs without a ceph-mgr (it would cost ~300 MB and seconds to start), so PG
states are read from the OSDs (``pg <id> query``) instead of the mgr's PG map.
"""

from __future__ import annotations

import errno
import importlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from cowshed.backends.rbd._cluster import bindings_hint, read_fsid
from cowshed.errors import BackendUnavailable, ExternalToolError

#: errors a forming cluster answers with that succeed when asked again.
_RETRY_ERRNOS = frozenset({errno.EAGAIN, errno.ETIMEDOUT, errno.EBUSY, errno.EINTR})


def import_rados() -> ModuleType:
    """The librados binding, or BackendUnavailable with the install hint."""
    try:
        rados = importlib.import_module("rados")
    except ImportError as exc:
        raise BackendUnavailable(
            f"the Ceph Python bindings are missing: {bindings_hint()}"
        ) from exc
    return rados


class CephAdmin:
    """One librados connection used for administration (not for data)."""

    def __init__(self, conf_path: Path, connect_timeout: float = 30.0) -> None:
        rados = import_rados()
        self._client: Any = rados.Rados(conffile=str(conf_path))
        try:
            self._client.connect(timeout=max(1, int(connect_timeout)))
        except rados.Error as exc:
            self._client.shutdown()
            raise ExternalToolError(f"cannot connect to the Ceph monitor: {exc}") from exc
        self.fsid = read_fsid(self._client, connect_timeout)

    def close(self) -> None:
        self._client.shutdown()

    def command(
        self, prefix: str, args: Mapping[str, object] | None = None, timeout: float = 30.0
    ) -> str:
        """Run a mon command; retry transient errors until ``timeout``; return its output."""
        cmd = json.dumps({"prefix": prefix, "format": "json", **(args or {})})
        deadline = time.monotonic() + timeout
        while True:
            ret, out, status = self._client.mon_command(cmd, b"", timeout=10)
            if ret >= 0:
                return bytes(out).decode()
            if -ret not in _RETRY_ERRNOS or time.monotonic() > deadline:
                raise ExternalToolError(f"ceph {prefix} failed: {status} (errno {-ret})")
            time.sleep(0.1)

    def command_json(
        self, prefix: str, args: Mapping[str, object] | None = None, timeout: float = 30.0
    ) -> Any:
        """:meth:`command` whose output is parsed as JSON (None when empty)."""
        out = self.command(prefix, args, timeout)
        return json.loads(out) if out.strip() else None

    def osd_new(self, uuid: str) -> int:
        """Allocate an OSD id for ``uuid`` in the OSD map."""
        result = self.command_json("osd new", {"uuid": uuid})
        return int(result["osdid"]) if isinstance(result, dict) else int(str(result))

    def osds_up(self) -> dict[int, bool]:
        dump = self.command_json("osd dump")
        return {int(o["osd"]): bool(o["up"]) for o in dump["osds"]}

    def pools(self) -> dict[str, int]:
        """Pool name → pg_num."""
        dump = self.command_json("osd dump")
        return {str(p["pool_name"]): int(p["pg_num"]) for p in dump["pools"]}

    def pool_ids(self) -> dict[str, int]:
        dump = self.command_json("osd dump")
        return {str(p["pool_name"]): int(p["pool"]) for p in dump["pools"]}

    def pg_state(self, pgid: str) -> str:
        """The PG's state as its primary OSD reports it, or ``unknown`` if it does not answer."""
        try:
            ret, out, _ = self._client.pg_command(
                pgid, json.dumps({"prefix": "query", "pgid": pgid}), b"", 5
            )
        except Exception:  # the binding raises on timeouts; any failure just means "not yet"
            return "unknown"
        if ret < 0:
            return "unknown"
        return str(json.loads(bytes(out).decode()).get("state", "unknown"))

    def pg_summary(self) -> dict[str, int]:
        """Count of PGs per state over all pools."""
        counts: dict[str, int] = {}
        ids = self.pool_ids()
        for name, pg_num in self.pools().items():
            for index in range(pg_num):
                state = self.pg_state(f"{ids[name]}.{index:x}")
                counts[state] = counts.get(state, 0) + 1
        return counts

    def create_pool(self, name: str, pg_num: int) -> None:
        """Create a replicated pool (size from the conf default) and initialise it for RBD."""
        self.command(
            "osd pool create",
            {"pool": name, "pg_num": pg_num, "pgp_num": pg_num, "pool_type": "replicated"},
        )
        rbd = importlib.import_module("rbd")
        ioctx = self._client.open_ioctx(name)
        try:
            # pool_init enables the ``rbd`` application and writes the pool's RBD metadata;
            # it blocks until the pool's PGs accept writes.
            rbd.RBD().pool_init(ioctx, False)
        finally:
            ioctx.close()

    def delete_pool(self, name: str) -> None:
        self.command(
            "osd pool rm", {"pool": name, "pool2": name, "yes_i_really_really_mean_it": True}
        )
