"""One conformance suite that every backend runs against the real thing.

To use it, subclass :class:`BackendConformance` (the core protocol) in a test module and provide
a pytest fixture named ``backend`` that yields a fresh, empty
:class:`cowshed.backends.base.Backend` (and closes it afterwards). Each optional protocol has its
own suite in this package (``snapshots``, ``clones``, ``extend``, ``attach``): a backend's test
class inherits the suites of the protocols its Capabilities claim, plus
:class:`~tests.conformance.refusals.RefusalConformance`, which checks that every protocol it
does not claim is refused with UnsupportedOperation.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from cowshed.backends.base import Backend
from cowshed.errors import AlreadyExists, InvalidRequest, NotFound

MiB = 1 << 20


def _key() -> str:
    return str(uuid.uuid4())


def new_key() -> str:
    return _key()


def put(backend: Backend, key: str, data: bytes) -> int:
    return _put(backend, key, [data])


def get(backend: Backend, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return _get(backend, key, offset, length)


def _put(backend: Backend, key: str, blocks: list[bytes]) -> int:
    writer = backend.open_writer(key, sum(len(b) for b in blocks))
    for block in blocks:
        writer.write(block)
    return writer.commit().size


def _get(backend: Backend, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(backend.open_read(key, offset, length))


class BackendConformance:
    """Behaviour every backend must show; subclasses supply the ``backend`` fixture."""

    def test_roundtrip_unaligned_blocks(self, backend: Backend) -> None:
        blocks = [os.urandom(n) for n in (1, 4095, MiB + 7, 3 * MiB, 13)]
        key = _key()
        assert _put(backend, key, blocks) == sum(map(len, blocks))
        data = _get(backend, key)
        assert hashlib.sha256(data).digest() == hashlib.sha256(b"".join(blocks)).digest()
        assert backend.stat(key).size == len(data)

    def test_empty_object(self, backend: Backend) -> None:
        key = _key()
        assert _put(backend, key, []) == 0
        assert _get(backend, key) == b""
        assert backend.stat(key).size == 0

    def test_not_visible_before_commit(self, backend: Backend) -> None:
        key = _key()
        writer = backend.open_writer(key, MiB)
        writer.write(os.urandom(MiB))
        assert not backend.exists(key)
        assert key not in set(backend.keys())
        writer.commit()
        assert backend.exists(key)
        assert key in set(backend.keys())

    def test_abort_leaves_nothing(self, backend: Backend) -> None:
        key = _key()
        writer = backend.open_writer(key, None)
        writer.write(os.urandom(2 * MiB))
        writer.abort()
        writer.abort()
        assert not backend.exists(key)
        with pytest.raises(NotFound):
            backend.stat(key)
        assert _put(backend, key, [b"again"]) == 5

    def test_duplicate_key_refused(self, backend: Backend) -> None:
        key = _key()
        _put(backend, key, [b"one"])
        with pytest.raises(AlreadyExists):
            _put(backend, key, [b"two"])
        assert _get(backend, key) == b"one"

    def test_ranged_reads(self, backend: Backend) -> None:
        data = os.urandom(5 * MiB + 123)
        key = _key()
        _put(backend, key, [data])
        assert _get(backend, key, 0, 10) == data[:10]
        assert _get(backend, key, MiB - 3, 2 * MiB) == data[MiB - 3 : 3 * MiB - 3]
        assert _get(backend, key, len(data) - 5) == data[-5:]
        assert _get(backend, key, len(data) - 5, 100) == data[-5:]

    def test_missing_object(self, backend: Backend) -> None:
        key = _key()
        assert not backend.exists(key)
        with pytest.raises(NotFound):
            backend.stat(key)
        with pytest.raises(NotFound):
            b"".join(backend.open_read(key))
        with pytest.raises(NotFound):
            backend.delete(key)

    def test_delete(self, backend: Backend) -> None:
        key = _key()
        _put(backend, key, [os.urandom(MiB)])
        backend.delete(key)
        assert not backend.exists(key)
        assert key not in set(backend.keys())
        with pytest.raises(NotFound):
            backend.delete(key)

    def test_unknown_size_write(self, backend: Backend) -> None:
        key = _key()
        writer = backend.open_writer(key, None)
        data = os.urandom(3 * MiB + 17)
        for i in range(0, len(data), 256 << 10):
            writer.write(data[i : i + (256 << 10)])
        assert writer.commit().size == len(data)
        assert backend.stat(key).size == len(data)
        assert _get(backend, key) == data

    def test_thin_zero_regions(self, backend: Backend) -> None:
        if not backend.capabilities.thin:
            pytest.skip("backend is not thin")
        key = _key()
        payload = os.urandom(4 * MiB)
        zeros = bytes(16 * MiB)
        _put(backend, key, [payload, zeros, payload])
        info = backend.stat(key)
        assert info.size == 24 * MiB
        assert info.allocated is not None and info.allocated < 12 * MiB
        assert _get(backend, key, 4 * MiB, 16 * MiB) == zeros
        assert _get(backend, key, 20 * MiB) == payload

    def test_location_names_key(self, backend: Backend) -> None:
        key = _key()
        _put(backend, key, [b"x"])
        location = backend.location(key)
        assert key in location
        assert location.split(":", 1)[0] in {"file", "rbd", "memory"}

    def test_cleanup_after_crashed_writer(self, backend: Backend) -> None:
        key = _key()
        writer = backend.open_writer(key, 2 * MiB)
        writer.write(os.urandom(2 * MiB))
        del writer  # a crash: never committed, never aborted
        backend.cleanup_incomplete()
        assert not backend.exists(key)
        assert _put(backend, key, [b"fresh"]) == 5
        assert _get(backend, key) == b"fresh"

    def test_describe_is_mapping(self, backend: Backend) -> None:
        assert isinstance(dict(backend.describe()), dict)

    def test_capacity_is_sane_or_unknown(self, backend: Backend) -> None:
        """Both figures, with free space within the total, or neither (a Ceph cluster without a
        manager reports no usage: ``ceph df`` is empty there)."""
        cap = backend.capacity()
        if cap.total_bytes is None:
            assert cap.free_bytes is None
            return
        assert cap.free_bytes is not None
        assert 0 <= cap.free_bytes <= cap.total_bytes
        assert cap.total_bytes > 0

    # -- empty create, copy, in-place writes ----------------------------------------------------

    def test_create_empty_object(self, backend: Backend) -> None:
        key = _key()
        stored = backend.create(key, 16 * MiB)
        assert (stored.key, stored.size) == (key, 16 * MiB)
        assert backend.stat(key).size == 16 * MiB
        assert _get(backend, key, 5 * MiB, MiB) == bytes(MiB)
        if backend.capabilities.thin:
            allocated = backend.stat(key).allocated
            assert allocated is not None and allocated < MiB
        with pytest.raises(AlreadyExists):
            backend.create(key, MiB)
        assert _put(backend, _key(), []) == 0 and backend.create(_key(), 0).size == 0

    def test_block_writes_in_place(self, backend: Backend) -> None:
        key = _key()
        backend.create(key, 8 * MiB)
        payload = os.urandom(MiB + 5)
        with backend.open_block(key) as block:
            assert block.size == 8 * MiB
            block.write(3 * MiB - 2, payload)
            block.write(0, b"head")
            assert block.read(3 * MiB - 2, len(payload)) == payload
            with pytest.raises(InvalidRequest):
                block.write(8 * MiB - 1, b"xy")
        assert backend.stat(key).size == 8 * MiB
        assert _get(backend, key, 0, 4) == b"head"
        assert _get(backend, key, 3 * MiB - 2, len(payload)) == payload
        assert _get(backend, key, 5 * MiB, MiB) == bytes(MiB)
        with pytest.raises(NotFound):
            backend.open_block(_key())

    def test_copy_is_independent(self, backend: Backend) -> None:
        src, dst = _key(), _key()
        backend.create(src, 12 * MiB)
        data = os.urandom(2 * MiB)
        with backend.open_block(src) as block:
            block.write(MiB, data)
        copied = backend.copy(src, dst)
        assert copied.size == 12 * MiB
        with backend.open_block(src) as block:
            block.write(MiB, bytes(len(data)))
        assert _get(backend, dst, MiB, len(data)) == data
        assert _get(backend, dst, 6 * MiB, MiB) == bytes(MiB)
        if backend.capabilities.thin:
            allocated = backend.stat(dst).allocated
            assert allocated is not None and allocated < 8 * MiB
        with pytest.raises(AlreadyExists):
            backend.copy(src, dst)
        with pytest.raises(NotFound):
            backend.copy(_key(), _key())
        backend.delete(src)
        assert _get(backend, dst, MiB, len(data)) == data
