"""``drive`` hands the writer blocks of exactly ``block_size`` bytes, whatever the socket gives.

Exact blocks line up with a store's chunks, which is what lets the RBD writer pass them to librbd
without a copy; the bytes and hashes must be those of the stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator

import pytest

from cowshed.backends.base import StoredObject
from cowshed.services.ingest import Ingest, drive

BLOCK = 1000


class _Recorder:
    """A Writer that keeps the blocks it is given."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        assert type(data) is bytes
        self.blocks.append(data)

    def commit(self) -> StoredObject:
        raise AssertionError("not used")

    def abort(self) -> None:
        pass


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(data[at : at + size])
        at += size
    return out


def _random_sizes(total: int, seed: int) -> list[int]:
    rng, sizes = random.Random(seed), []
    while total > 0:
        size = min(total, rng.choice([0, 1, rng.randrange(1, BLOCK), BLOCK, rng.randrange(1, 4000)]))
        sizes.append(size)
        total -= size
    return sizes


@pytest.mark.parametrize(
    "sizes",
    [
        [BLOCK] * 3,
        [BLOCK - 1, 1, BLOCK + 1, BLOCK - 1],
        [5 * BLOCK + 500],
        [0, 7, 0, 3 * BLOCK, 0],
        [300] * 11,
        _random_sizes(20 * BLOCK + 17, seed=1),
        _random_sizes(9 * BLOCK, seed=2),
    ],
)
def test_drive_cuts_exact_blocks(sizes: list[int]) -> None:
    data = os.urandom(sum(sizes))

    async def chunks() -> AsyncIterator[bytes]:
        for piece in _pieces(data, sizes):
            yield piece

    writer = _Recorder()
    ingest = Ingest(writer, expected_size=len(data), size_cap=1 << 40, inspector=None)
    asyncio.run(drive(chunks(), ingest, block_size=BLOCK))
    result = ingest.finish()
    assert b"".join(writer.blocks) == data
    assert [len(b) for b in writer.blocks[:-1]] == [BLOCK] * (len(writer.blocks) - 1)
    assert 0 < len(writer.blocks[-1]) <= BLOCK
    assert result.size == len(data)
    assert result.checksum == hashlib.md5(data, usedforsecurity=False).hexdigest()
