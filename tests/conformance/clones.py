"""Conformance of the CloneBackend protocol: clones of snapshots, parents, children, flatten,
and clones across object spaces (another pool or directory of the same cluster or filesystem).

Test modules provide ``backend`` and ``sibling`` (a second, empty backend of the same cluster in
another space, or the same backend again where the driver has only one space).
"""

from __future__ import annotations

import os

import pytest

from cowshed.backends.base import Backend, ChildRef, SnapRef, as_clones, as_snapshots
from cowshed.errors import AlreadyExists, InUse, NotFound
from tests.conformance.suite import MiB, get, new_key


def _source(backend: Backend, data: bytes) -> str:
    key = new_key()
    backend.create(key, 4 * MiB)
    with backend.open_block(key) as block:
        block.write(0, data)
    as_snapshots(backend).create_snapshot(key, "s")
    return key


class CloneConformance:
    def test_clone_reads_snapshot_and_diverges(self, backend: Backend) -> None:
        clones = as_clones(backend)
        data = os.urandom(2 * MiB)
        src = _source(backend, data)
        with backend.open_block(src) as block:  # after the snapshot: not in the clone
            block.write(0, bytes(MiB))
        dst = new_key()
        child = clones.clone(src, "s", dst)
        assert (child.key, child.size) == (dst, 4 * MiB)
        assert get(backend, dst, 0, 2 * MiB) == data
        with backend.open_block(dst) as block:
            block.write(MiB, b"child")
        assert get(backend, src, MiB, 5) == data[MiB : MiB + 5]
        with pytest.raises(AlreadyExists):
            clones.clone(src, "s", dst)
        with pytest.raises(NotFound):
            clones.clone(src, "nope", new_key())

    def test_parent_children_and_flatten(self, backend: Backend) -> None:
        clones, snaps = as_clones(backend), as_snapshots(backend)
        data = os.urandom(MiB)
        src = _source(backend, data)
        a, b = new_key(), new_key()
        clones.clone(src, "s", a)
        clones.clone(src, "s", b)
        assert clones.parent(src) is None
        if not backend.capabilities.clones_depend_on_parent:
            assert clones.parent(a) is None and clones.children(src, "s") == []
            snaps.delete_snapshot(src, "s")
            backend.delete(src)
            assert get(backend, a, 0, MiB) == data
            return
        assert clones.parent(a) == SnapRef(clones.space, src, "s")
        assert sorted(c.key for c in clones.children(src, "s")) == sorted([a, b])
        with pytest.raises(InUse):
            snaps.delete_snapshot(src, "s")
        with pytest.raises(InUse):
            backend.delete(src)
        clones.flatten(a)
        clones.flatten(a)  # no parent any more: a no-op
        assert clones.parent(a) is None
        assert clones.children(src, "s") == [ChildRef(clones.space, b)]
        backend.delete(b)
        snaps.delete_snapshot(src, "s")
        backend.delete(src)
        assert get(backend, a, 0, MiB) == data

    def test_clone_across_spaces(self, backend: Backend, sibling: Backend) -> None:
        clones = as_clones(sibling)
        assert clones.can_clone_from(backend)
        data = os.urandom(MiB)
        src = _source(backend, data)
        dst = new_key()
        clones.clone(src, "s", dst, source=backend)
        assert get(sibling, dst, 0, MiB) == data
        if backend.capabilities.clones_depend_on_parent:
            assert clones.parent(dst) == SnapRef(as_clones(backend).space, src, "s")
            assert as_clones(backend).children(src, "s") == [ChildRef(clones.space, dst)]
            with pytest.raises(InUse):
                as_snapshots(backend).delete_snapshot(src, "s")
            clones.flatten(dst)
        as_snapshots(backend).delete_snapshot(src, "s")
        backend.delete(src)
        assert get(sibling, dst, 0, MiB) == data
