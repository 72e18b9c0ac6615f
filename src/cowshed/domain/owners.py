"""Who is doing the work: one owner record per live process, and the rule deciding if it lives.

An owner is ``host:pid:token``. It is alive while its heartbeat is younger than the lease and,
on the host where it runs, while its pid still names the same process (the start time read from
``/proc`` at registration must match: a reused pid is not the owner).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Owner:
    id: str
    host: str
    pid: int
    #: clock ticks since boot at which the process started (field 22 of /proc/PID/stat).
    proc_start: int
    started_at: datetime
    heartbeat_at: datetime


def owner_alive(owner: Owner | None, now: datetime, lease: timedelta, this_host: str,
                proc_start_of: Callable[[int], int | None]) -> bool:
    """The liveness rule. ``proc_start_of(pid)`` gives a local pid's start time, or None when no
    such process runs; it is only asked about owners on ``this_host``."""
    if owner is None:
        return False
    if now - owner.heartbeat_at > lease:
        return False
    if owner.host != this_host:
        return True
    return proc_start_of(owner.pid) == owner.proc_start
