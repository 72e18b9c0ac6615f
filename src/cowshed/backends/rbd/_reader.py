"""Sequential reads of an RBD image with a few ``aio_read`` calls in flight (readahead).

A single synchronous ``read`` per chunk leaves Ceph idle while the consumer handles the previous
chunk; keeping ``depth`` reads queued lets the read path keep up with ``rbd export``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Any

from cowshed.backends.rbd._errors import error_for_errno, map_rbd_errors


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


def read_chunks(
    image: Any, offset: int, end: int, chunk: int, depth: int, what: str
) -> Iterator[bytes]:
    """Yield ``image[offset:end]`` in pieces aligned to ``chunk``; closes ``image`` at the end.

    The first piece is short when ``offset`` is not aligned, so later reads hit whole objects.
    Abandoning the iterator waits for the queued reads before closing the image.
    """
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
