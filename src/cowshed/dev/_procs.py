"""Starting and stopping the dev cluster's daemons by pid, safely.

Daemons are started with ``posix_spawn`` in a session of their own, so they outlive the process
that started them (``cowshed dev ceph up`` exits at once) and no ``Popen`` object is left to
complain about it. A pid is only ever signalled after :func:`pid_is_ours` confirmed that it is a
live process started with *this* cluster's ``ceph.conf`` — a recycled pid is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from cowshed.errors import ExternalToolError


def pid_is_ours(pid: int, conf_path: Path) -> bool:
    """True when ``pid`` is a live (non-zombie) process started with ``-c conf_path``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and os.fsencode(str(conf_path)) in cmdline


def require_programs(programs: dict[str, str]) -> None:
    """ExternalToolError naming the missing programs and the install command, before anything
    starts (``programs`` maps each program to the Debian package that ships it)."""
    missing = [name for name in programs if shutil.which(name) is None]
    if missing:
        packages = " ".join(dict.fromkeys(programs[name] for name in missing))
        raise ExternalToolError(
            f"{', '.join(missing)} not found on PATH: install Ceph first, e.g. "
            f"apt-get install {packages} (Debian/Ubuntu)")


def spawn(argv: list[str], log_path: Path) -> int:
    """Start ``argv`` detached (new session, stdin from /dev/null, output appended to
    ``log_path``) and return its pid."""
    binary = shutil.which(argv[0])
    if binary is None:
        raise ExternalToolError(f"{argv[0]} is not installed")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(binary, argv, dict(os.environ), file_actions=actions, setsid=True)


def _child_exited(pid: int) -> bool | None:
    """For our own child: whether it exited (reaping it). None if ``pid`` is not our child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return done == pid


def has_exited(pid: int, conf_path: Path) -> bool:
    """True once ``pid`` no longer runs as one of this cluster's daemons.

    Our own children are judged by ``waitpid`` (which also reaps them): while a process exits,
    /proc may already show an empty command line before it is a zombie, and judging by that
    would leave the zombie unreaped.
    """
    child = _child_exited(pid)
    if child is not None:
        return child
    return not pid_is_ours(pid, conf_path)


def wait_exit(pid: int, conf_path: Path, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for :func:`has_exited`; return whether it did."""
    deadline = time.monotonic() + timeout
    while not has_exited(pid, conf_path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop(pid: int, conf_path: Path, sig: signal.Signals, grace: float = 10.0) -> None:
    """Send ``sig`` to ``pid`` if it is ours, SIGKILL after ``grace`` seconds, and reap it."""
    if pid <= 0 or not pid_is_ours(pid, conf_path):
        return
    os.kill(pid, sig)
    if not wait_exit(pid, conf_path, grace):
        os.kill(pid, signal.SIGKILL)
        wait_exit(pid, conf_path, 5.0)
