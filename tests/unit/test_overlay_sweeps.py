"""The qcow2-overlay volume store's cleanup runs on every maintenance sweep, in any process of
the host, while other processes work: it must never take what a live operation is building.

Two stores on one directory stand for two processes (flock and the lock files are per open
file, so they exclude each other as processes do); real qemu-img files throughout.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cowshed.backends.file import FileBackend, FileConfig
from cowshed.formats.qemu_img import default_qemu_img
from cowshed.services.volumes.overlay import OverlayStore, backing_of

MiB = 1 << 20
KEY = "volume-5b7e4ad0-bd3f-4a2e-9d1d-8f00a8c6d1e2"


def _store(root: Path, scratch: Path) -> OverlayStore:
    backend = FileBackend("file", FileConfig(filesystem_store_datadir=str(root)))
    return OverlayStore("file", backend, default_qemu_img(), scratch)


def test_a_file_being_built_survives_another_process_cleanup(tmp_path: Path) -> None:
    mine, other = _store(tmp_path / "v", tmp_path / "s"), _store(tmp_path / "v", tmp_path / "s")
    with mine._building(KEY) as tmp:
        default_qemu_img().create(tmp, "qcow2", MiB)
        assert other.cleanup() == 0
        assert tmp.is_file()
    assert list((tmp_path / "v" / ".incoming").iterdir()) == []


def test_a_snapshot_between_link_and_rename_survives_another_process_cleanup(
        tmp_path: Path) -> None:
    mine, other = _store(tmp_path / "v", tmp_path / "s"), _store(tmp_path / "v", tmp_path / "s")
    mine.create(KEY, MiB)
    frozen = tmp_path / "v" / f"{KEY}.snap1"
    done = threading.Event()
    sweeper = threading.Thread(target=lambda: (other.cleanup(), done.set()))
    with mine._lock(KEY):  # what snapshot() does, cut where the two names share one inode
        frozen.hardlink_to(tmp_path / "v" / KEY)
        sweeper.start()
        time.sleep(0.5)
        assert frozen.is_file(), "the sweep removed the snapshot being taken"
        mine._overlay_as(KEY, frozen)
    sweeper.join(timeout=30)
    assert done.is_set() and frozen.is_file()
    assert backing_of(tmp_path / "v" / KEY) == str(frozen)
    assert mine.snapshots(KEY) == ["snap1"]
