"""The download's trailing hashes: same digests as hashlib, never blocking the download."""

from __future__ import annotations

import hashlib
import os

import pytest

from cowshed.node.hashing import LAG, TrailingHashes


def test_digests_match_hashlib() -> None:
    chunks = [os.urandom(n) for n in (1, 4096, 1 << 20, 3, 0, 777)] * 5
    hashes = TrailingHashes("sha512")
    for chunk in chunks:
        hashes.feed(chunk)
    data = b"".join(chunks)
    assert hashes.result() == (hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest())
    hashes.close()  # after result(): nothing left to stop


def test_close_stops_the_threads_midway() -> None:
    hashes = TrailingHashes("sha256")
    for _ in range(LAG):
        hashes.feed(b"x" * 1024)
    hashes.close()
    assert not any(thread.is_alive() for thread in hashes._threads)


def test_a_failing_hash_never_blocks_the_feed_and_is_raised() -> None:
    hashes = TrailingHashes("sha512")
    hashes.feed("not bytes")  # type: ignore[arg-type]  # digest.update raises TypeError
    for _ in range(3 * LAG):  # more than the queue holds: must not block
        hashes.feed(b"data")
    with pytest.raises(TypeError):
        hashes.result()
