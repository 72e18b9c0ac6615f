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
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from cowshed.backends.base import Backend
from cowshed.errors import CowshedError
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
