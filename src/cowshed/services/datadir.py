"""The data-dir lock: one live server per data dir, so start-up recovery never destroys work.

Start-up recovery (``services/recovery.py``) assumes no other process is writing into the
deployment: it returns ``saving`` images to ``queued`` and deletes partial files. A second
server started on a data dir another server uses (``./run serve`` twice by accident) would
destroy the first one's in-flight uploads. So:

* ``cowshed serve`` takes an **exclusive** ``flock`` on ``<data_dir>/.lock`` before it touches
  anything, and holds it for its whole life. The file names the holder (pid, host, port, start
  time, command) so a refused process can say who holds it. Order at start: lock, bind the port,
  then recover, then serve — a server that cannot get its port has recovered nothing.
* ``cowshed`` commands that write through the library take a **shared** lock for as long as they
  run: several of them may run together, but a server cannot start (and recover) under them, and
  they cannot write under a server (they are told to go through it over HTTP instead).
* The lock is an ``flock`` on an open file description: the kernel drops it when the holder
  dies, however it dies (SIGKILL included), so there is no stale lock to clean up. The file
  itself is left in place; its content is only a description.

Scale-out: a future ``cowshed serve --workers N`` parent takes the lock once, binds, recovers,
and then starts its children, which never take it themselves (the parent holds it for them as
long as it lives). Deployments whose metadata lives in PostgreSQL and that run several processes
on purpose set ``data_dir_lock = false``; the settings refuse that with SQLite.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cowshed.domain.clock import utcnow
from cowshed.errors import ConfigError, DataDirInUse

LOCK_NAME = ".lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a data dir: written into the lock file by the exclusive holder."""

    pid: int
    command: str
    host: str = ""
    port: int = 0
    started_at: str = ""

    def describe(self) -> str:
        where = f" on {self.host}:{self.port}" if self.port else ""
        since = f" since {self.started_at}" if self.started_at else ""
        return f"{self.command} (pid {self.pid}{where}{since})"


def this_process(command: str, host: str = "", port: int = 0) -> Holder:
    started = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return Holder(pid=os.getpid(), command=command, host=host, port=port, started_at=started)


class DataDirLock:
    """A held lock on one data dir; ``release()`` (or process exit) gives it up."""

    def __init__(self, path: Path, fd: int, exclusive: bool) -> None:
        self.path = path
        self._fd: int | None = fd
        self.exclusive = exclusive

    @classmethod
    def acquire(cls, data_dir: Path, holder: Holder, *, exclusive: bool = True) -> DataDirLock:
        """Take the lock without waiting; DataDirInUse naming the holder if it is taken.

        Creates ``data_dir`` if needed (ConfigError when that or the lock file is impossible).
        """
        path = data_dir / LOCK_NAME
        fd = _open(data_dir, path)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(fd)
            os.close(fd)
            raise DataDirInUse(_in_use_message(data_dir, other, exclusive)) from None
        lock = cls(path, fd, exclusive)
        if exclusive:
            lock.describe(holder)
        return lock

    def describe(self, holder: Holder) -> None:
        """Record the holder (e.g. once the port is known); exclusive holders only."""
        if self._fd is None or not self.exclusive:
            return
        data = (json.dumps(asdict(holder)) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self.exclusive:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(data_dir: Path) -> Holder | None:
    """The recorded exclusive holder of ``data_dir`` if one is alive now, else None."""
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        return None  # nobody holds it exclusively
    finally:
        os.close(fd)  # also drops the probe's shared lock


def _open(data_dir: Path, path: Path) -> int:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC: a qemu-img child that outlives us must not keep the lock alive.
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot use data dir {data_dir}: {reason}; choose a writable directory with "
            f"--data-dir or COWSHED_DATA_DIR"
        ) from exc


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        return None if raw is None else Holder(**raw)
    except (OSError, ValueError, TypeError):
        return None  # written by a holder still starting, or by another version


def _in_use_message(data_dir: Path, other: Holder | None, wanted_exclusive: bool) -> str:
    if other is not None:
        who = other.describe()
    else:
        pids = _flock_pids(data_dir / LOCK_NAME)
        who = "cowshed commands (pid " + ", ".join(map(str, pids)) + ")" if pids else \
            "another cowshed process"
    if not wanted_exclusive and other is not None and other.port:
        host = other.host if other.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return (f"data dir {data_dir} is in use by {who}; go through its API at "
                f"http://{_url_host(host)}:{other.port}, or stop it first")
    return (f"data dir {data_dir} is in use by {who}; stop it first, or use another "
            f"--data-dir")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _flock_pids(path: Path) -> list[int]:
    """Pids holding an flock on ``path``, from /proc/locks (empty where that is unavailable)."""
    try:
        st = path.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            pids.append(int(fields[4]))
    return sorted(set(pids))
