"""The file backend against the conformance suite, on real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cowshed.backends.base import Backend
from cowshed.backends.file import FileBackend
from tests.conformance.suite import BackendConformance


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    store = FileBackend.from_options("file", {"filesystem_store_datadir": str(tmp_path / "images")})
    yield store
    store.close()


class TestFileBackend(BackendConformance):
    pass
