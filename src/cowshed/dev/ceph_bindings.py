"""Make Debian's ``rados`` and ``rbd`` extension modules importable from a virtualenv.

Debian ships the Ceph Python bindings (``python3-rados``, ``python3-rbd``) as compiled modules in
``/usr/lib/python3/dist-packages``. A virtualenv (or a pyenv interpreter of the same minor
version) does not see that directory, and putting all of it on ``sys.path`` would shadow the
venv's own packages with Debian's. So :func:`install` makes a directory inside the venv's
site-packages holding symlinks to *just* the two ``.so`` files, plus a ``.pth`` file that puts
that directory on ``sys.path`` at start-up.

Run it after ``apt-get install python3-rados python3-rbd``::

    python -m cowshed.dev.ceph_bindings            # install into the running interpreter
    python -m cowshed.dev.ceph_bindings --check    # exit 1 unless rados and rbd import
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

#: the modules we link, and nothing else from dist-packages.
MODULES = ("rados", "rbd")
DEFAULT_SOURCE = Path("/usr/lib/python3/dist-packages")
LINK_DIR_NAME = "cowshed_ceph_bindings"
PTH_NAME = "cowshed-ceph-bindings.pth"


@dataclass(frozen=True)
class InstallResult:
    """Where the links and the ``.pth`` file were written."""

    link_dir: Path
    pth_file: Path
    linked: tuple[Path, ...]


def extension_suffix() -> str:
    """The ABI suffix of this interpreter, e.g. ``.cpython-311-x86_64-linux-gnu.so``."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if not isinstance(suffix, str):
        raise RuntimeError("this interpreter reports no EXT_SUFFIX")
    return suffix


def find_modules(source: Path = DEFAULT_SOURCE, suffix: str | None = None) -> dict[str, Path]:
    """Map each of :data:`MODULES` to its ``.so`` in ``source`` matching this interpreter's ABI.

    Raises FileNotFoundError naming the Debian packages to install when one is missing.
    """
    suffix = suffix or extension_suffix()
    found: dict[str, Path] = {}
    for name in MODULES:
        candidate = source / f"{name}{suffix}"
        if not candidate.is_file():
            raise FileNotFoundError(
                f"{candidate} not found: install python3-rados and python3-rbd for this "
                f"Python ({sys.version_info.major}.{sys.version_info.minor})"
            )
        found[name] = candidate
    return found


def install(
    site_packages: Path | None = None, source: Path = DEFAULT_SOURCE
) -> InstallResult:
    """Create (or refresh) the link directory and ``.pth`` file; idempotent."""
    site_dir = site_packages or Path(sysconfig.get_paths()["purelib"])
    link_dir = site_dir / LINK_DIR_NAME
    link_dir.mkdir(parents=True, exist_ok=True)
    linked: list[Path] = []
    for target in find_modules(source).values():
        link = link_dir / target.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        linked.append(link)
    pth = site_dir / PTH_NAME
    # A .pth line that is a path is appended to sys.path by the site module at start-up.
    pth.write_text(f"{link_dir}\n", encoding="utf-8")
    return InstallResult(link_dir=link_dir, pth_file=pth, linked=tuple(linked))


def importable() -> bool:
    """True when ``import rados, rbd`` works in this interpreter."""
    try:
        for name in MODULES:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def _check_in_fresh_interpreter() -> bool:
    """Import the modules in a new process, so the ``.pth`` file is what makes them visible."""
    code = "import " + ", ".join(MODULES)
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry: install the links (default) or only check; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m cowshed.dev.ceph_bindings")
    parser.add_argument("--check", action="store_true", help="only check that rados/rbd import")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)
    if args.check:
        ok = importable()
        print("rados/rbd importable" if ok else "rados/rbd NOT importable")
        return 0 if ok else 1
    try:
        result = install(source=args.source)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"linked {', '.join(p.name for p in result.linked)} into {result.link_dir}")
    if not _check_in_fresh_interpreter():
        print("error: rados/rbd still do not import", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
