"""The memory backend against the conformance suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cowshed.backends.base import Backend
from cowshed.backends.memory import MemoryBackend
from tests.conformance.suite import BackendConformance


@pytest.fixture
def backend() -> Iterator[Backend]:
    store = MemoryBackend.from_options("memory", {})
    yield store
    store.close()


class TestMemoryBackend(BackendConformance):
    pass
