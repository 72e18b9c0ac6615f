"""The virtualenv that holds Keystone and Tempest, created once per requirements file.

Keystone and Tempest pin oslo and SQLAlchemy versions that need not agree with cowshed's
``.venv``, so they live in their own venv under a cache directory (``$COWSHED_TEST_CACHE``, else
``~/.cache/cowshed-tests``) that survives between test runs and CI steps on one machine. The
directory name carries a hash of ``requirements.txt``: changing a pin makes a new venv. The
install runs with ``--no-deps`` from the full pinned list (no resolver), under a file lock so that
parallel test processes install it once; a ``.complete`` marker is written last, so an install
that died half-way is redone rather than trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
#: Interpreter the venv is made from: the one running the tests (3.11+, like cowshed's).
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def cache_root() -> Path:
    root = os.environ.get("COWSHED_TEST_CACHE") or str(Path.home() / ".cache" / "cowshed-tests")
    return Path(root)


@dataclass(frozen=True)
class OpenStackVenv:
    """A ready venv: where its programs are, and how long getting it took (for the record)."""

    path: Path
    seconds: float
    installed_now: bool

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)

    @property
    def python(self) -> str:
        return self.bin("python")


def ensure_venv(log: Path | None = None) -> OpenStackVenv:
    """Return the cached venv, installing it first if it is missing or incomplete."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"openstack-venv-{digest}"
    started = time.monotonic()
    with (root / f"openstack-venv-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / ".complete").exists():
            return OpenStackVenv(path, time.monotonic() - started, installed_now=False)
        shutil.rmtree(path, ignore_errors=True)
        _install(path, log or root / f"openstack-venv-{digest}.log")
        (path / ".complete").write_text(digest + "\n")
    return OpenStackVenv(path, time.monotonic() - started, installed_now=True)


def _install(path: Path, log: Path) -> None:
    with log.open("w") as out:
        for cmd in (
            [str(BASE_PYTHON), "-m", "venv", str(path)],
            [str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
             "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        ):
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")
