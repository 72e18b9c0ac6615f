"""The file backend against the conformance suites, on real files: on the test machine's own
filesystem (no reflink: no snapshots or clones) and on a loop-mounted XFS (reflink)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cowshed.backends.base import Backend
from cowshed.backends.file import FileBackend
from tests.conformance.attach import AttachConformance
from tests.conformance.clones import CloneConformance
from tests.conformance.extend import ExtendConformance
from tests.conformance.refusals import RefusalConformance
from tests.conformance.snapshots import SnapshotConformance
from tests.conformance.suite import BackendConformance
from tests.reflink import reflink_dir

__all__ = ["reflink_dir"]


def _store(root: Path) -> FileBackend:
    return FileBackend.from_options("file", {"filesystem_store_datadir": str(root)})


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    store = _store(tmp_path / "images")
    assert not store.capabilities.reflink, "expected a filesystem without reflink (ext4, tmpfs)"
    yield store
    store.close()


class TestFileBackend(BackendConformance, ExtendConformance, AttachConformance,
                      RefusalConformance):
    pass


class TestReflinkFileBackend(BackendConformance, SnapshotConformance, CloneConformance,
                             ExtendConformance, AttachConformance, RefusalConformance):
    @pytest.fixture
    def backend(self, reflink_dir: Path) -> Iterator[Backend]:
        store = _store(reflink_dir / uuid.uuid4().hex)
        assert store.capabilities.reflink and store.capabilities.clone
        yield store
        store.close()

    @pytest.fixture
    def sibling(self, reflink_dir: Path) -> Iterator[Backend]:
        store = _store(reflink_dir / uuid.uuid4().hex)
        yield store
        store.close()
