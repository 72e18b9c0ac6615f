"""BackendGate: a volume request refuses work up front on a backend that does not answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cowshed.backends.memory import MemoryBackend
from cowshed.errors import BackendUnavailable, BackendUnreachable
from cowshed.services.health import BackendGate


class HungBackend(MemoryBackend):
    """Fault injection: ``exists`` blocks until released (a backend that never answers)."""

    def __init__(self) -> None:
        super().__init__("hung", MemoryBackend.from_options("hung", {}).config)
        self.release = threading.Event()
        self.calls = 0

    def exists(self, key: str) -> bool:
        self.calls += 1
        self.release.wait(30)
        return False


class BrokenBackend(MemoryBackend):
    """Fault injection: ``exists`` fails as a misconfigured store does."""

    def exists(self, key: str) -> bool:
        raise BackendUnavailable("store 'broken': no ceph.conf")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def test_an_answering_backend_passes(pool: ThreadPoolExecutor) -> None:
    BackendGate(pool).require(MemoryBackend.from_options("m", {}), "Volume backend 'm'")


def test_a_hung_backend_is_unreachable_within_the_timeout_and_probed_once(
        pool: ThreadPoolExecutor) -> None:
    backend, gate = HungBackend(), BackendGate(pool, timeout=0.3)
    try:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(BackendUnreachable, match=r"did not answer within 0\.3 s"):
                gate.require(backend, "Volume backend 'hung'")
            assert time.monotonic() - started < 5
        assert backend.calls == 1  # later requests wait on the running probe, not a new one
    finally:
        backend.release.set()
    gate.require(backend, "Volume backend 'hung'")  # answers again: passes


def test_a_failing_backend_keeps_its_kind_of_error(pool: ThreadPoolExecutor) -> None:
    backend = BrokenBackend("broken", MemoryBackend.from_options("broken", {}).config)
    with pytest.raises(BackendUnavailable, match=r"'b' is unavailable: .*no ceph\.conf") as info:
        BackendGate(pool).require(backend, "Volume backend 'b'")
    assert not isinstance(info.value, BackendUnreachable)  # misconfigured, not "come back"
