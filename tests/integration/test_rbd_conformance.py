"""The RBD backend against the shared conformance suites, on a real Ceph cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cowshed.backends.base import Backend
from cowshed.backends.rbd import RbdBackend
from cowshed.dev.ceph import DevCephCluster
from tests.conformance.attach import AttachConformance
from tests.conformance.clones import CloneConformance
from tests.conformance.extend import ExtendConformance
from tests.conformance.refusals import RefusalConformance
from tests.conformance.snapshots import SnapshotConformance
from tests.conformance.suite import BackendConformance
from tests.integration.conftest import rbd_options

pytestmark = pytest.mark.ceph


@pytest.fixture
def backend(ceph_cluster: DevCephCluster, fresh_pool: str) -> Iterator[Backend]:
    """A fresh, empty store: its own pool, deleted after the test.

    4 MiB objects instead of the default 8: Ceph counts an object's allocation from the object's
    start to its last written byte, and the suite's thin test puts 4 MiB of data at the end of
    an 8 MiB-aligned region; with 8 MiB objects that counts 12 MiB, not < 12 MiB. (The RBD tests
    in test_rbd_backend.py run with the default 8 MiB.)
    """
    options = {**rbd_options(ceph_cluster, fresh_pool), "rbd_store_chunk_size": 4}
    store = RbdBackend.from_options("ceph", options)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sibling(ceph_cluster: DevCephCluster, backend: Backend) -> Iterator[Backend]:
    """A store on another pool of the same cluster (its own connection, as Cinder's is)."""
    pool = "volumes"
    store = RbdBackend.from_options("ceph2", rbd_options(ceph_cluster, pool))
    try:
        yield store
    finally:
        store.close()


class TestRbdBackend(BackendConformance, SnapshotConformance, CloneConformance,
                     ExtendConformance, AttachConformance, RefusalConformance):
    pass
