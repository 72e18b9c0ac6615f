"""Session fixtures for booting guests (imported by the test modules that boot)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.node.guest import Guest, build_guest, libvirt_daemons


@dataclass(frozen=True)
class BootKit:
    guest: Guest
    #: a 0755 directory outside /tmp/pytest-of-root (0700): libvirt's qemu user must reach
    #: the kernel, the initrd and every disk.
    root: Path

    def workdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(mode=0o755, exist_ok=True)
        path.chmod(0o755)
        return path


@pytest.fixture(scope="session", name="boot_kit")
def boot_kit_fixture() -> Iterator[BootKit]:
    """The guest and a boot directory, with libvirtd running; import this function into a
    test module (or conftest) to use the ``boot_kit`` fixture there."""
    cache = Path.home() / ".cache" / "cowshed-tests" / "guest"
    built = build_guest(cache)
    root = Path(tempfile.mkdtemp(prefix="cowshed-boot-", dir="/var/tmp"))
    root.chmod(0o755)
    guest = Guest(root / "vmlinuz", root / "initrd.gz")
    shutil.copyfile(built.kernel, guest.kernel)
    shutil.copyfile(built.initrd, guest.initrd)
    try:
        with libvirt_daemons():
            yield BootKit(guest, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
