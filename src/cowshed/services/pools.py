"""The process's thread pools: created once with the services, shut down when they close.

* ``blocking`` runs what the event loop hands off (database and store calls, file reads and
  writes): the server installs it as its loop's default executor, so ``asyncio.to_thread``,
  ``loop.run_in_executor(None, …)`` and the API's ``call`` all land here.
* ``hashing`` runs md5 ‖ sha512 of each ingested block (hashlib releases the GIL).
* ``jobs`` runs background work that outlives a request (imports).

Nothing else in the service starts a pool of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cowshed.config import Settings

#: threads for calls handed off by the event loop; each in-flight request holds at most one.
BLOCKING_THREADS = 64
HASHING_THREADS = 16
#: imports running at once unless ``import_workers`` says otherwise.
JOB_THREADS = 4


class OwnedExecutor(ThreadPoolExecutor):
    """A pool only its owner shuts down. An event loop shuts its default executor down when
    it closes, but this pool belongs to the services, which may outlive that loop."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if getattr(self, "_owner_closing", False):
            super().shutdown(wait, cancel_futures=cancel_futures)

    def close(self) -> None:
        self._owner_closing = True
        self.shutdown(wait=True)


def _pool(size: int, name: str) -> OwnedExecutor:
    return OwnedExecutor(max_workers=size, thread_name_prefix=f"cowshed-{name}")


@dataclass(frozen=True)
class Pools:
    blocking: OwnedExecutor = field(default_factory=lambda: _pool(BLOCKING_THREADS, "io"))
    hashing: OwnedExecutor = field(default_factory=lambda: _pool(HASHING_THREADS, "hash"))
    jobs: OwnedExecutor = field(default_factory=lambda: _pool(JOB_THREADS, "job"))

    @classmethod
    def for_settings(cls, settings: Settings) -> Pools:
        """The pools of a deployment: the jobs pool runs ``import_workers`` imports at once."""
        return cls(jobs=_pool(settings.import_workers, "job"))

    def close(self) -> None:
        """Wait for running work (imports finish or fail and record it), then stop."""
        for pool in (self.jobs, self.blocking, self.hashing):
            pool.close()


async def run_to_end(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn`` (an undo step) in ``pool`` and wait for it; once called, it runs to its end.

    ``asyncio.to_thread`` is not enough for undo: when the waiting task is cancelled (a
    shutdown past its grace cancels it, then the event loop's own exit cancels it again), the
    job is cancelled with it if no thread has picked it up yet, and the undo never happens.
    Here the job is submitted outright and the wait is shielded: a cancelled waiter stops
    waiting, the job still runs, and ``Pools.close`` waits for it before the process ends.
    """
    job: Future[Any] = pool.submit(functools.partial(contextvars.copy_context().run, fn, *args))
    job.add_done_callback(_consume)
    await asyncio.shield(asyncio.wrap_future(job))


def _consume(job: Future[Any]) -> None:
    if not job.cancelled():
        job.exception()  # retrieved, so a failure nobody awaits is not reported as lost
