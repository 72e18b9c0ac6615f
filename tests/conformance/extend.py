"""Conformance of the ExtendBackend protocol: grow in place, never shrink."""

from __future__ import annotations

import pytest

from cowshed.backends.base import Backend, as_extend
from cowshed.errors import InvalidRequest, NotFound
from tests.conformance.suite import MiB, get, new_key, put


class ExtendConformance:
    def test_extend_grows_and_never_shrinks(self, backend: Backend) -> None:
        ext = as_extend(backend)
        key = new_key()
        put(backend, key, b"abc")
        ext.extend(key, MiB)
        assert backend.stat(key).size == MiB
        assert get(backend, key, 0, 4) == b"abc\0"
        ext.extend(key, MiB)  # same size: nothing to do
        with pytest.raises(InvalidRequest):
            ext.extend(key, MiB - 1)
        assert backend.stat(key).size == MiB
        with pytest.raises(NotFound):
            ext.extend(new_key(), MiB)
