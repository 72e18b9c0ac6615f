"""The memory backend against the conformance suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cowshed.backends.base import Backend, CloneCost
from cowshed.backends.memory import MemoryBackend
from tests.conformance.clones import CloneConformance
from tests.conformance.extend import ExtendConformance
from tests.conformance.refusals import RefusalConformance
from tests.conformance.snapshots import SnapshotConformance
from tests.conformance.suite import BackendConformance


@pytest.fixture
def backend() -> Iterator[Backend]:
    store = MemoryBackend.from_options("memory", {})
    yield store
    store.close()


@pytest.fixture
def sibling() -> Iterator[Backend]:
    store = MemoryBackend.from_options("memory2", {})
    yield store
    store.close()


class TestMemoryBackend(BackendConformance, SnapshotConformance, CloneConformance,
                        ExtendConformance, RefusalConformance):
    pass


def test_memory_clone_cost_is_declared_linear(backend: Backend) -> None:
    """The memory backend copies on clone, and says so: services never count it as fast."""
    assert backend.capabilities.clone_cost is CloneCost.LINEAR
