"""Periodic upkeep while a server runs: the sweeps that start-up recovery also does, on a timer.

One daemon thread per process runs :func:`sweep` every ``maintenance_interval`` seconds, and
then the owner-aware recovery (services/recovery.py, and the volume service's): what a dead
process left (its lease expired, or its pid is gone) is reconciled while the others serve on.
Only one process of a deployment sweeps at a time (``repo.exclusive("sweep")``: a PostgreSQL
advisory lock, or an ``flock`` beside the SQLite database); the others skip that round. Every
step is a compare-and-set or an idempotent delete besides.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cowshed.services.context import Deps
from cowshed.services.images.staging import expire_staged

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    tasks_purged: int
    staged_expired: int


def sweep(deps: Deps) -> SweepReport:
    """One round of upkeep: purge expired tasks, expire staged data nobody imported."""
    return SweepReport(tasks_purged=deps.repo.purge_expired_tasks(),
                       staged_expired=expire_staged(deps))


class Maintenance:
    """Runs :func:`sweep` every ``interval`` seconds on a daemon thread until :meth:`stop`."""

    def __init__(self, deps: Deps, interval: float) -> None:
        self.deps = deps
        self.interval = interval
        #: recovery run after each sweep (set by Services: images and volumes); None skips it.
        self.recover: Callable[[], object] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="cowshed-maintenance",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("maintenance sweep failed")

    def run_once(self) -> bool:
        """One round, unless another process is sweeping; whether this one swept."""
        with self.deps.repo.exclusive("sweep") as alone:
            if not alone:
                return False
            report = sweep(self.deps)
            if any(vars(report).values()):
                log.info("maintenance: %s", report)
            if self.recover is not None:
                self.recover()
        return True
