"""Sequential reads of an RBD image with many ``aio_read`` calls in flight (readahead).

A single synchronous ``read`` per chunk leaves Ceph idle while the consumer handles the previous
chunk; keeping reads queued lets the read path keep up with ``rbd export``. Measured against
``rbd export`` of the same 1 GiB image in one run (HTTP download from the rbd store, 5 rounds,
medians, loaded 2-core machine): 3 reads of 8 MiB in flight 0.90, 6 x 8 MiB 0.61, 8 x 4 MiB
1.08, 16 x 2 MiB 1.23 — many small reads beat a few large ones (each read is one RADOS op an
OSD thread can serve while the others are on the wire, and a 2 MiB buffer is cheaper to
allocate and touch than an 8 MiB one).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Any

from cowshed.backends.rbd._errors import error_for_errno, map_rbd_errors

#: bytes per ``aio_read`` (at most the object size; both are powers of two, so pieces never
#: straddle an object boundary).
READ_PIECE = 2 << 20
#: bytes queued ahead of the consumer.
READAHEAD_BYTES = 32 << 20


class _Pending:
    """One queued ``aio_read``; the callback (a librbd thread) fills it in."""

    def __init__(self, length: int) -> None:
        self.length = length
        self._done = threading.Event()
        self._ret = 0
        self._data: bytes | None = None

    def complete(self, completion: Any, data: Any) -> None:
        self._ret = int(completion.get_return_value())
        self._data = bytes(data) if data is not None and not isinstance(data, bytes) else data
        self._done.set()

    def wait(self) -> None:
        self._done.wait()

    def result(self, what: str) -> bytes:
        self._done.wait()
        if self._ret < 0:
            raise error_for_errno(self._ret, what)
        return self._data or b""


def read_chunks(image: Any, offset: int, end: int, object_size: int, what: str) -> Iterator[bytes]:
    """Yield ``image[offset:end]`` in aligned pieces of ``READ_PIECE`` (or ``object_size`` if
    smaller), ``READAHEAD_BYTES`` of them in flight; closes ``image`` at the end.

    The first piece is short when ``offset`` is not aligned, so later reads never straddle an
    object. Abandoning the iterator waits for the queued reads before closing the image.
    """
    chunk = min(READ_PIECE, object_size)
    depth = max(1, READAHEAD_BYTES // chunk)
    queue: collections.deque[_Pending] = collections.deque()
    next_offset = offset

    def submit() -> None:
        nonlocal next_offset
        length = min(chunk - next_offset % chunk, end - next_offset)
        pending = _Pending(length)
        with map_rbd_errors(what):
            image.aio_read(next_offset, length, pending.complete)
        queue.append(pending)
        next_offset += length

    try:
        while queue or next_offset < end:
            while len(queue) < depth and next_offset < end:
                submit()
            yield queue.popleft().result(what)
    finally:
        for pending in queue:
            pending.wait()
        image.close()
