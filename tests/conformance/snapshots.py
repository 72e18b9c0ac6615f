"""Conformance of the SnapshotBackend protocol (backends whose Capabilities claim snapshots)."""

from __future__ import annotations

import os

import pytest

from cowshed.backends.base import Backend, as_extend, as_snapshots
from cowshed.errors import AlreadyExists, NotFound
from tests.conformance.suite import MiB, get, new_key


def _volume(backend: Backend, size: int, data: bytes, at: int = 0) -> str:
    key = new_key()
    backend.create(key, size)
    with backend.open_block(key) as block:
        block.write(at, data)
    return key


class SnapshotConformance:
    def test_snapshot_keeps_point_in_time(self, backend: Backend) -> None:
        snaps = as_snapshots(backend)
        first = os.urandom(MiB)
        key = _volume(backend, 4 * MiB, first)
        snaps.create_snapshot(key, "s1")
        with backend.open_block(key) as block:
            block.write(0, os.urandom(MiB))
        snaps.create_snapshot(key, "s2")
        assert snaps.list_snapshots(key) == ["s1", "s2"]
        assert b"".join(snaps.open_snapshot_read(key, "s1")) == first + bytes(3 * MiB)
        assert b"".join(snaps.open_snapshot_read(key, "s1", MiB - 3, 5)) == first[-3:] + b"\0\0"
        assert get(backend, key, 0, MiB) != first
        with pytest.raises(AlreadyExists):
            snaps.create_snapshot(key, "s1")

    def test_revert_restores_bytes_and_size(self, backend: Backend) -> None:
        snaps = as_snapshots(backend)
        data = os.urandom(MiB)
        key = _volume(backend, 2 * MiB, data, MiB)
        snaps.create_snapshot(key, "before")
        with backend.open_block(key) as block:
            block.write(MiB, bytes(MiB))
        if backend.capabilities.extend:
            as_extend(backend).extend(key, 6 * MiB)
        snaps.revert_snapshot(key, "before")
        assert backend.stat(key).size == 2 * MiB
        assert get(backend, key, MiB) == data
        assert snaps.list_snapshots(key) == ["before"]

    def test_delete_snapshot_and_object(self, backend: Backend) -> None:
        snaps = as_snapshots(backend)
        key = _volume(backend, MiB, b"x")
        snaps.create_snapshot(key, "a")
        snaps.create_snapshot(key, "b")
        snaps.delete_snapshot(key, "a")
        assert snaps.list_snapshots(key) == ["b"]
        with pytest.raises(NotFound):
            snaps.delete_snapshot(key, "a")
        with pytest.raises(NotFound):
            b"".join(snaps.open_snapshot_read(key, "a"))
        backend.delete(key)  # takes its remaining snapshot along
        assert not backend.exists(key)
        with pytest.raises(NotFound):
            snaps.list_snapshots(key)
        with pytest.raises(NotFound):
            snaps.create_snapshot(key, "c")
