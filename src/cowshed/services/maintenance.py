"""Periodic upkeep while a server runs: the sweeps that start-up recovery also does, on a timer.

One daemon thread per process runs :func:`sweep` every ``maintenance_interval`` seconds. Every
sweep is safe to run in any number of processes at once: each step is a compare-and-set or an
idempotent delete.
"""

from __future__ import annotations

import logging
import threading
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
                report = sweep(self.deps)
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("maintenance sweep failed")
                continue
            if any(vars(report).values()):
                log.info("maintenance: %s", report)
