"""A stuck OSD (SIGSTOP) fails an RBD write within ``rbd_write_timeout``: commit and abort
never hang forever waiting for Ceph."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from cowshed.backends.rbd import RbdBackend
from cowshed.dev.ceph import DevCephCluster
from cowshed.errors import BackendUnavailable
from tests.integration.conftest import rbd_options

pytestmark = pytest.mark.ceph

MiB = 1 << 20


def test_a_stuck_osd_fails_the_write_within_the_timeout(
        ceph_cluster: DevCephCluster, fresh_pool: str) -> None:
    backend = RbdBackend.from_options("ceph", {**rbd_options(ceph_cluster, fresh_pool),
                                               "rbd_write_timeout": 2})
    osds = {name: pid for name, pid in ceph_cluster.status().daemons.items()
            if name.startswith("osd.")}
    assert osds and all(osds.values()), osds
    # sized up front: a resize would be a synchronous call, bounded by rados_osd_op_timeout
    writer = backend.open_writer(str(uuid.uuid4()), 80 * MiB)
    writer.write(os.urandom(8 * MiB))
    for pid in osds.values():
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable, match="rbd_write_timeout"):
            for _ in range(8):  # more than the writes allowed in flight, then commit
                writer.write(os.urandom(8 * MiB))
            writer.commit()
        elapsed = time.monotonic() - started
    finally:
        for pid in osds.values():
            assert pid is not None
            os.kill(pid, signal.SIGCONT)
    # the failed write waited once for a slot and once in its own abort: about twice 2 s, not forever
    assert elapsed < 20, elapsed
    writer.abort()  # idempotent after the failure
    # once the OSD runs again, the abandoned image is closed and removed in the background
    deadline = time.monotonic() + 120
    while _incoming(backend):
        assert time.monotonic() < deadline, _incoming(backend)
        time.sleep(0.5)
    backend.close()


def _incoming(backend: RbdBackend) -> list[str]:
    cluster = backend._cluster  # the pool's raw listing: incomplete images are not keys
    return [n for n in cluster.lib.rbd.RBD().list(cluster.ioctx()) if n.startswith(".incoming.")]
