"""Running the small host tools the node needs besides qemu-img (mkfs, mkswap, fallocate,
xorriso, virsh), with a timeout, a clean environment and errors in the cowshed tree."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from cowshed.errors import ExternalToolError

_ENV = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
_TAIL = 1500


def which(tool: str, package: str) -> str:
    """The absolute path of ``tool``; ExternalToolError naming the Debian package if missing."""
    found = shutil.which(tool, path=_ENV["PATH"])
    if found is None:
        raise ExternalToolError(f"{tool} not found (install the {package} package)")
    return found


def run(argv: Sequence[str], *, what: str, timeout: float = 300.0, stdin: bytes | None = None,
        ok_codes: tuple[int, ...] = (0,), package: str = "") -> str:
    """Run ``argv`` (argv[0] looked up on a fixed PATH); stdout as text.

    ``stdin`` is fed to the tool (used for secrets, so they never appear in argv or a file).
    Raises ExternalToolError on a failure, a timeout or a missing tool.
    """
    exe = which(argv[0], package or argv[0])
    try:
        proc = subprocess.run(
            [exe, *argv[1:]], input=stdin, capture_output=True, timeout=timeout, env=_ENV,
            check=False, stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ExternalToolError(f"{what}: {argv[0]} timed out after {timeout} s") from None
    if proc.returncode not in ok_codes:
        err = proc.stderr.decode(errors="replace").strip()[-_TAIL:]
        raise ExternalToolError(f"{what}: {argv[0]} failed (exit {proc.returncode}): {err}")
    return proc.stdout.decode(errors="replace")
