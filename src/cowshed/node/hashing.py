"""md5 and the multihash of a download, computed beside it rather than in its way.

The download loop (receive, inspect, write) hands every chunk to :class:`TrailingHashes` and
goes on; one thread per hash digests the chunks in order. The hashes may trail the download by
up to ``LAG`` chunks, so on a host with a free core the conversion starts while the hashes
finish; the checksums are still compared before anything is published (see ``cache._fetch``).
hashlib releases the GIL on large buffers, so the two threads run in parallel with the loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from typing import Any

#: chunks (8 MiB each from the image client) a hash may trail the download by.
LAG = 8


class TrailingHashes:
    """md5 and ``algo`` over the chunks fed, in order, each in its own thread."""

    def __init__(self, algo: str) -> None:
        self._digests: dict[str, Any] = {"md5": hashlib.md5(usedforsecurity=False),
                                         algo: hashlib.new(algo)}
        self._queues: dict[str, queue.Queue[bytes | None]] = {
            name: queue.Queue(maxsize=LAG) for name in self._digests}
        self._threads = [threading.Thread(target=self._run, args=(name,), daemon=True,
                                          name=f"cowshed-hash-{name}")
                         for name in self._digests]
        self._algo = algo
        self._ended = False
        self._failed: BaseException | None = None
        for thread in self._threads:
            thread.start()

    def _run(self, name: str) -> None:
        digest, inbox = self._digests[name], self._queues[name]
        while (chunk := inbox.get()) is not None:
            if self._failed is None:  # after a failure keep taking chunks: feed never blocks
                try:
                    digest.update(chunk)
                except BaseException as exc:  # e.g. MemoryError; result() raises it
                    self._failed = exc

    def feed(self, chunk: bytes) -> None:
        for inbox in self._queues.values():
            inbox.put(chunk)  # blocks while a hash trails by LAG chunks

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            for inbox in self._queues.values():
                inbox.put(None)
        for thread in self._threads:
            thread.join()

    def result(self) -> tuple[str, str]:
        """Wait for both hashes; (md5 hex, multihash hex)."""
        self._end()
        if self._failed is not None:
            raise self._failed
        return self._digests["md5"].hexdigest(), self._digests[self._algo].hexdigest()

    def close(self) -> None:
        """Stop the threads (after a failure, the digests are not wanted)."""
        if not self._ended:
            for inbox in self._queues.values():
                with contextlib.suppress(queue.Empty):
                    while True:
                        inbox.get_nowait()
        self._end()

