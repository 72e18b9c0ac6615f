"""Named locks that hold across processes and threads: ``flock`` on files in ``locks/``.

Nova guards each cache entry with an oslo.concurrency external lock named after the file
(``nova-<filename>`` in ``$instances_path/locks``); this is the same idea. Every acquisition
opens its own file description, so two threads of one process exclude each other exactly as
two processes do, and the kernel drops the lock when its holder dies (a SIGKILLed spawn never
leaves a lock behind).

Shared mode is what spawns take on a cache entry they only read (many may run at once);
exclusive mode is what fetching and removing an entry take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from cowshed.errors import Conflict, InvalidRequest

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class LockDir:
    """The lock files of one ``instances_path``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise InvalidRequest(f"invalid lock name {name!r}")
        return self.root / f"cowshed-{name}"

    @contextlib.contextmanager
    def hold(self, name: str, *, shared: bool = False, timeout: float | None = None
             ) -> Iterator[None]:
        """Hold lock ``name`` for the block; Conflict if ``timeout`` seconds pass first."""
        fd = self._open(name)
        try:
            _acquire(fd, shared, timeout, name)
            yield
        finally:
            os.close(fd)  # closing the description releases the flock

    def try_hold(self, name: str) -> int | None:
        """Take ``name`` exclusively without waiting: the open descriptor, or None if busy.

        The caller releases it with ``os.close``.
        """
        fd = self._open(name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def is_held(self, name: str) -> bool:
        """True while some process or thread holds ``name`` (in either mode)."""
        if not self.path(name).exists():
            return False
        fd = self.try_hold(name)
        if fd is None:
            return True
        os.close(fd)
        return False

    def _open(self, name: str) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.open(self.path(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _acquire(fd: int, shared: bool, timeout: float | None, name: str) -> None:
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if timeout is None:
        fcntl.flock(fd, mode)
        return
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Conflict(f"lock {name!r} is busy (held by another operation)") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
