"""``cowshed serve --workers N``: N server processes on one port, one data dir, one database.

The parent holds the data-dir lock and the listening socket, runs start-up recovery once, then
forks the workers, each with its own services (owner, pools, maintenance thread) serving the
inherited socket; the kernel spreads connections over them. A worker that dies is replaced (its
work in progress is reclaimed by the sweeps: its owner is dead). SIGTERM or Ctrl-C stops them all
gracefully; the parent exits once every worker has (143 after SIGTERM, 130 after Ctrl-C).

Workers run in a process group of their own, so a terminal's Ctrl-C reaches only the parent,
which passes one SIGTERM on (two signals would make uvicorn skip its graceful shutdown).
``/metrics`` counts for all of them: every worker records into one directory the parent makes.
A worker gets SIGTERM when the parent ends, however it ends (SIGKILL included).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("cowshed.serve")

#: a worker that dies sooner than this after its start is replaced only this long after it
#: started.
_QUICK_DEATH = 5.0


class Supervisor:
    def __init__(self, count: int, serve_one: Callable[[], None]) -> None:
        self.count = count
        self.serve_one = serve_one
        self.children: dict[int, float] = {}  # pid → start time
        self.stop_signal: int | None = None

    def run(self) -> int:
        """Serve until a signal stops us; the exit status the parent should end with."""
        metrics_dir = tempfile.mkdtemp(prefix="cowshed-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            for _ in range(self.count):
                self._spawn()
            while self.children:
                self._reap()
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return 130 if self.stop_signal == signal.SIGINT else 143 if self.stop_signal else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            log.info("stopping %d workers", len(self.children))
            for pid in self.children:
                _signal(pid, signal.SIGTERM)

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            self.children.clear()
            return
        started = self.children.pop(pid, None)
        if started is None or self.stop_signal is not None:
            return
        log.warning("worker %d ended (%s); starting another", pid, _describe(status))
        # a crash loop restarts at most every _QUICK_DEATH seconds; counted from the dead
        # worker's start, so workers that die together wait once, not once each in turn
        time.sleep(max(0.0, started + _QUICK_DEATH - time.monotonic()))
        if self.stop_signal is None:
            self._spawn()

    def _spawn(self) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid:
            self.children[pid] = time.monotonic()
            return
        code = 1
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _end_with(parent)
            _metrics_per_process()
            self.serve_one()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(code)


#: prctl(2) option: the signal this process gets when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1


def _end_with(parent: int) -> None:
    """SIGTERM (a graceful stop) for this worker when the parent ends, even by SIGKILL: in a
    process group of their own, workers would otherwise serve on, orphaned, while nobody holds
    the data-dir lock any more."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # it ended before the prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _metrics_per_process() -> None:
    """Samples recorded from now on go to the shared directory (prometheus_client chooses its
    value class from the environment at import, which happened in the parent already)."""
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"

