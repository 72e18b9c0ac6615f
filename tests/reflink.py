"""A directory on a filesystem that can reflink: a small XFS image mounted through a loop device.

Reflink (FICLONE) needs XFS or btrfs; test machines usually run ext4. Mounting needs root and a
free loop device; where that is impossible the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def reflink_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs is not installed (apt-get install xfsprogs): no reflink filesystem")
    base = tmp_path_factory.mktemp("reflink")
    image, mount = base / "xfs.img", base / "mnt"
    mount.mkdir()
    with image.open("wb") as fh:
        fh.truncate(512 << 20)
    made = _run("mkfs.xfs", "-q", "-m", "reflink=1", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.xfs failed: {made.stderr.strip()}")
    mounted = _run("mount", "-o", "loop", str(image), str(mount))
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount an XFS image here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        # A test may leave a file open (the "crashed writer" keeps its fd): detach lazily then.
        if _run("umount", str(mount)).returncode != 0:
            _run("umount", "-l", str(mount))
        image.unlink(missing_ok=True)
