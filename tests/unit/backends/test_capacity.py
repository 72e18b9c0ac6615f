"""Capacity figures of the backends that always know them (RBD's come from ``ceph df``, which
needs a Ceph manager; the dev cluster runs none, so the conformance suite accepts 'unknown')."""

from __future__ import annotations

import os
from pathlib import Path

from cowshed.backends.file import FileBackend, FileConfig
from cowshed.backends.memory import MemoryBackend


def test_file_capacity_is_the_filesystems(tmp_path: Path) -> None:
    store = FileBackend("f", FileConfig(filesystem_store_datadir=str(tmp_path)))
    cap = store.capacity()
    st = os.statvfs(tmp_path)
    assert cap.total_bytes == st.f_blocks * st.f_frsize
    assert cap.free_bytes is not None and 0 < cap.free_bytes <= cap.total_bytes


def test_memory_capacity_shrinks_as_objects_are_written() -> None:
    store = MemoryBackend.from_options("m", {"max_bytes": 1 << 20})
    assert store.capacity().free_bytes == 1 << 20
    writer = store.open_writer("images/a", 4096)
    writer.write(b"x" * 4096)
    writer.commit()
    cap = store.capacity()
    assert cap.total_bytes == 1 << 20
    assert cap.free_bytes == (1 << 20) - 4096
