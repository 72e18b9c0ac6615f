"""``/healthcheck``: can this process reach its database and every store right now?

Each check is one cheap real round trip: ``SELECT 1`` on the database, and per store an
``exists`` probe of a key no object has (a stat for files, an image open for RBD, which needs a
monitor and an OSD). A check that does not answer within ``timeout`` seconds fails; its thread
is left to finish, and a later check reuses it instead of starting another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from cowshed.backends.base import Backend
from cowshed.errors import BackendUnavailable, BackendUnreachable, CowshedError
from cowshed.services.context import Deps

#: a key no object ever has (keys of images and volumes are UUIDs).
PROBE_KEY = "cowshed-healthcheck-probe"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


class HealthChecker:
    """Runs the checks in the blocking pool, at most one run of each check at a time."""

    def __init__(self, deps: Deps, timeout: float = 5.0) -> None:
        self.deps = deps
        self.timeout = timeout
        self._running: dict[str, Future[str]] = {}
        self._lock = threading.Lock()

    def check(self) -> HealthReport:
        probes: dict[str, Callable[[], str]] = {"database": self._database}
        for backend in self.deps.stores:
            probes[f"store:{backend.name}"] = _store_probe(backend)
        futures = {name: self._submit(name, probe) for name, probe in probes.items()}
        return HealthReport(tuple(self._result(name, f) for name, f in futures.items()))

    def _submit(self, name: str, probe: Callable[[], str]) -> Future[str]:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self.deps.pools.blocking.submit(_timed, probe)
                self._running[name] = running
            return running

    def _result(self, name: str, future: Future[str]) -> Check:
        started = time.monotonic()
        try:
            detail = future.result(timeout=self.timeout)
        except FutureTimeout:
            return Check(name, False, f"no answer within {self.timeout:g} s",
                         time.monotonic() - started)
        except CowshedError as exc:
            return Check(name, False, exc.message, time.monotonic() - started)
        except Exception as exc:  # a database driver error, a library bug: still a failed check
            return Check(name, False, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        return Check(name, True, detail, time.monotonic() - started)

    def _database(self) -> str:
        self.deps.repo.ping()
        return self.deps.repo.engine.dialect.name


def _timed(probe: Callable[[], str]) -> str:
    return probe()


def _store_probe(backend: Backend) -> Callable[[], str]:
    def probe() -> str:
        backend.exists(PROBE_KEY)
        return backend.kind

    return probe


#: seconds a request waits for a backend's reachability probe before answering 503 itself.
#: It bounds the wait even where the backend's own timeouts are off (an RBD store with
#: ``rados_connect_timeout = -1`` waits for Ceph forever).
PROBE_TIMEOUT = 10.0


class BackendGate:
    """Refuses work up front (BackendUnavailable → 503) on a backend that does not answer.

    Long operations that run after the request was accepted (a volume create, delete, clone)
    can only end in an error status once the backend is gone; checking reachability first lets
    the request itself fail with a clear 503 and change nothing. The probe is the health
    check's (an ``exists`` of a key no object has: one Ceph round trip, one ``stat`` for files);
    at most one probe per backend runs at a time and concurrent requests share it, so a hung
    backend holds one thread of ``pool``, not one per request.
    """

    def __init__(self, pool: Executor, timeout: float = PROBE_TIMEOUT) -> None:
        self._pool = pool
        self.timeout = timeout
        self._running: dict[int, Future[str]] = {}
        self._lock = threading.Lock()

    def require(self, backend: Backend, what: str) -> None:
        """Return once ``backend`` answered a probe; BackendUnavailable naming ``what`` (the
        store, for the message) when it failed or did not answer within ``timeout``."""
        with self._lock:
            probe = self._running.get(id(backend))
            if probe is None or probe.done():
                probe = self._pool.submit(_store_probe(backend))
                self._running[id(backend)] = probe
        try:
            probe.result(timeout=self.timeout)
        except FutureTimeout:
            raise BackendUnreachable(f"{what} is unavailable: its backend did not answer "
                                     f"within {self.timeout:g} s") from None
        except CowshedError as exc:
            unusable = BackendUnreachable if isinstance(exc, BackendUnreachable) \
                else BackendUnavailable
            raise unusable(f"{what} is unavailable: {exc.message}") from exc
