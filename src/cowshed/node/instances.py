"""Instance directories: ``<instances_path>/<instance>/`` with ``instance.json`` and ``disk.info``.

An instance directory is built under a private name (``.spawn-<instance>-<random>``) and renamed
into place only when every disk and both records are written, so a directory named after an
instance is always complete. ``disk.info`` is Nova's record of each file disk's format
(``{path: format}``), written once: a later rewrite is refused, which is what stops a guest from
turning its raw disk into a qcow2 with a backing file that the host would then honour
(CVE-2026-24708 class).

Every change to one instance (spawn, snapshot, delete, reconcile) holds its lock
``instance-<name>``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from cowshed.domain.instance_disks import InstanceRecord, check_instance_name
from cowshed.errors import Conflict, NotFound
from cowshed.node.files import atomic_write_json, fsync_dir, read_json
from cowshed.node.locks import LockDir

RECORD = "instance.json"
DISK_INFO = "disk.info"
_WORK = re.compile(r"^\.spawn-(?P<name>[A-Za-z0-9][A-Za-z0-9.-]*)-[0-9a-f]{8}$")
#: seconds a command waits for another operation on the same instance.
LOCK_TIMEOUT = 600.0


class InstanceStore:
    """The instance directories of one ``instances_path``."""

    def __init__(self, root: Path, locks: LockDir) -> None:
        self.root = root
        self.locks = locks

    def dir(self, name: str) -> Path:
        return self.root / check_instance_name(name)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        with self.locks.hold(f"instance-{check_instance_name(name)}", timeout=LOCK_TIMEOUT):
            yield

    def load(self, name: str) -> InstanceRecord:
        data = read_json(self.dir(name) / RECORD)
        if data is None:
            raise NotFound(f"instance {name} not found under {self.root}")
        return InstanceRecord.from_record(data)

    def exists(self, name: str) -> bool:
        """True when the instance has a readable record (see :meth:`broken`)."""
        return read_json(self.dir(name) / RECORD) is not None

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(("_", ".")) and (p / RECORD).is_file())

    def records(self) -> list[InstanceRecord]:
        out = []
        for name in self.names():
            with contextlib.suppress(NotFound, KeyError, ValueError):
                out.append(self.load(name))
        return out

    # -- building -------------------------------------------------------------------------

    def new_work_dir(self, name: str) -> Path:
        import secrets

        self.root.mkdir(parents=True, exist_ok=True)
        work = self.root / f".spawn-{name}-{secrets.token_hex(4)}"
        work.mkdir(mode=0o755)
        work.chmod(0o755)  # libvirt's qemu user must reach the disks (umask may differ)
        return work

    @staticmethod
    def write_disk_info(work: Path, formats: dict[str, str]) -> None:
        """Nova's ``disk.info``: ``{path: format}`` of the file disks; written once."""
        target = work / DISK_INFO
        if target.exists():
            raise Conflict(f"{target} exists: disk.info is written once")
        atomic_write_json(target, formats, sync=False)

    def publish(self, work: Path, record: InstanceRecord) -> Path:
        """Write the record into ``work`` and rename it to the instance's directory.

        The rename is the publication, atomic for every process. Like Nova's instance files
        (and the overlays themselves) nothing here is fsynced: that would triple a warm spawn's
        time. After a power cut the filesystem may show the directory with an empty record;
        such a directory is treated as an unfinished spawn (:meth:`broken`) and removed.
        """
        atomic_write_json(work / RECORD, record.record(), sync=False)
        final = self.dir(record.instance)
        work.rename(final)  # fails (ENOTEMPTY/EEXIST) rather than replace a live instance
        return final

    def broken(self, name: str) -> bool:
        """A directory named after the instance whose record is missing or unreadable."""
        path = self.dir(name)
        return path.is_dir() and read_json(path / RECORD) is None

    def stale_work_dirs(self, name: str | None = None) -> list[Path]:
        """Work directories left by spawns that died (call with the instance lock held, or
        for ``name=None`` only after checking each instance's lock)."""
        if not self.root.is_dir():
            return []
        out = []
        for path in self.root.iterdir():
            match = _WORK.match(path.name)
            if match and (name is None or match["name"] == name):
                out.append(path)
        return out

    def work_owner(self, path: Path) -> str | None:
        match = _WORK.match(path.name)
        return match["name"] if match else None

    def remove_dir(self, name: str) -> None:
        shutil.rmtree(self.dir(name), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            fsync_dir(self.root)
