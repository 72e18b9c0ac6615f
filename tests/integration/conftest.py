"""Fixtures that need a real Ceph: one single-host dev cluster per test session.

Without ``ceph-mon`` on the host the Ceph tests are skipped, unless ``COWSHED_REQUIRE_CEPH`` is
set (CI sets it), in which case a missing Ceph is a failure. Anything else that goes wrong
(bindings missing, a daemon that does not start) fails the tests: it is never a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from cowshed.backends.rbd import RbdBackend
from cowshed.dev.ceph import DevCephCluster
from cowshed.dev.ceph_conf import GiB


def require_ceph_binaries() -> None:
    if shutil.which("ceph-mon") and shutil.which("ceph-osd"):
        return
    if os.environ.get("COWSHED_REQUIRE_CEPH"):
        pytest.fail("COWSHED_REQUIRE_CEPH is set but ceph-mon/ceph-osd are not installed")
    pytest.skip(
        "Ceph is not installed (apt-get install ceph-mon ceph-osd ceph-common python3-rados "
        "python3-rbd; python -m cowshed.dev.ceph_bindings); set COWSHED_REQUIRE_CEPH=1 to fail "
        "instead of skipping"
    )


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCephCluster]:
    """A running dev cluster (pools ``images`` and ``volumes``), torn down after the session."""
    require_ceph_binaries()
    cluster = DevCephCluster(tmp_path_factory.mktemp("ceph"), osds=1, memstore_bytes=4 * GiB)
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


def rbd_options(cluster: DevCephCluster, pool: str = "images") -> dict[str, object]:
    """Store options that point at ``cluster``."""
    return {"rbd_store_ceph_conf": str(cluster.conf_path), "rbd_store_pool": pool,
            "rados_connect_timeout": 30}


@pytest.fixture
def rbd_backend(ceph_cluster: DevCephCluster) -> Iterator[RbdBackend]:
    """An RbdBackend on the shared pool ``images`` (keys are unique per test)."""
    backend = RbdBackend.from_options("ceph", rbd_options(ceph_cluster))
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def fresh_pool(ceph_cluster: DevCephCluster) -> Iterator[str]:
    """A new, empty RBD pool, deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    ceph_cluster.create_pool(name)
    try:
        yield name
    finally:
        ceph_cluster.delete_pool(name)
