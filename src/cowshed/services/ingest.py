"""The upload data path: one pass that hashes, inspects, size-checks and writes.

md5 (Glance ``checksum``) and the multihash run in two pool threads while the calling thread
feeds the format inspector and writes the block (hashlib and file writes release the GIL). The
async driver assembles large blocks from the socket and keeps one block in flight, so the event
loop receives the next block while the previous one is hashed and written.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from cowshed.backends.base import Writer
from cowshed.errors import InvalidRequest, SizeMismatch, StorageFull, UnsafeImage
from cowshed.formats.inspect import InspectionResult, StreamInspector

BLOCK_SIZE = 8 << 20
_fallback_pool: ThreadPoolExecutor | None = None
_fallback_lock = threading.Lock()


def _hash_pool() -> ThreadPoolExecutor:
    """For callers outside the services (they pass ``deps.pools.hashing``): made on first use."""
    global _fallback_pool
    with _fallback_lock:
        if _fallback_pool is None:
            _fallback_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cowshed-hash")
        return _fallback_pool


def check_promised_size(size: int | None, cap: int, what: str = "Image") -> None:
    """Refuse (StorageFull) data whose announced size is over the cap before any byte moves;
    ``Ingest`` enforces the same cap on the bytes themselves."""
    if size is not None and size > cap:
        raise StorageFull(f"{what} size {size} exceeds the maximum of {cap} bytes (size cap)")


@dataclass(frozen=True)
class IngestResult:
    """What one pass over the data learned."""

    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    inspection: InspectionResult | None


class Ingest:
    """Feeds blocks, in order, to the hashes, the inspector and a backend writer."""

    def __init__(
        self, writer: Writer, *, expected_size: int | None, size_cap: int,
        inspector: StreamInspector | None, hash_algo: str = "sha512", hashing: bool = True,
        hash_pool: Executor | None = None,
    ) -> None:
        self.writer = writer
        self._pool = hash_pool
        self.expected_size = expected_size
        self.size_cap = size_cap
        self.inspector = inspector
        self.hash_algo = hash_algo
        #: False for scratch data whose hashes nobody reads (staging): the result's
        #: ``checksum`` and ``os_hash_value`` are then empty.
        self.hashing = hashing
        self.size = 0
        self._checked = False
        #: held while a block is processed; see close()
        self._busy = threading.Lock()
        self._closed = False
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._multihash = hashlib.new(hash_algo)

    def process(self, block: bytes) -> None:
        """Account, hash, inspect and write one block. Raises SizeMismatch, StorageFull."""
        with self._busy:
            if self._closed:
                raise InvalidRequest("data after the upload was closed")
            self._process(block)

    def close(self) -> None:
        """Wait for a block being processed, and refuse any later one; blocking.

        The undo of a failed or cancelled upload calls this before aborting the writer: a
        block still in a pool thread must not write through a descriptor that the abort has
        closed (and that a new file may already reuse).
        """
        with self._busy:
            self._closed = True

    def _process(self, block: bytes) -> None:
        self.size += len(block)
        if self.expected_size is not None and self.size > self.expected_size:
            raise SizeMismatch(
                f"Image data is larger than the expected size of {self.expected_size} bytes"
            )
        if self.size > self.size_cap:
            raise StorageFull(f"Image exceeds the storage quota: more than {self.size_cap} bytes")
        if not self.hashing:
            self._inspect(block)
            self.writer.write(block)
            return
        pool = self._pool or _hash_pool()
        md5 = pool.submit(self._md5.update, block)
        multi = pool.submit(self._multihash.update, block)
        try:
            self._inspect(block)
            self.writer.write(block)
        finally:
            md5.result()
            multi.result()

    def _inspect(self, block: bytes) -> None:
        """Feed the inspector; once it has seen all it needs, refuse (UnsafeImage) before
        another byte of a refused image is written."""
        if self.inspector is None:
            return
        self.inspector.feed(block)
        if not self._checked and not self.inspector.needs_data:
            self._checked = True
            self.inspector.check_so_far()

    def finish(self) -> IngestResult:
        """Check the total size and the inspector's verdict; raises SizeMismatch, UnsafeImage."""
        if self.expected_size is not None and self.size != self.expected_size:
            raise SizeMismatch(
                f"Image data size {self.size} does not match the expected size "
                f"{self.expected_size}"
            )
        inspection = self.inspector.finish() if self.inspector is not None else None
        if not self.hashing:
            return IngestResult(size=self.size, checksum="", os_hash_algo=self.hash_algo,
                                os_hash_value="", inspection=inspection)
        return IngestResult(
            size=self.size, checksum=self._md5.hexdigest(), os_hash_algo=self.hash_algo,
            os_hash_value=self._multihash.hexdigest(), inspection=inspection,
        )


def _cut(parts: list[bytes | memoryview], held: int, size: int) -> tuple[bytes, int]:
    """Join the first ``size`` of the ``held`` bytes in ``parts`` into one block; ``parts`` keeps
    the rest (a view of the last part, not a copy). Requires ``held >= size``."""
    extra = held - size
    rest: list[bytes | memoryview] = []
    if extra:
        last = memoryview(parts[-1])
        parts[-1], rest = last[: len(last) - extra], [last[len(last) - extra :]]
    block = b"".join(parts)
    parts[:] = rest
    return block, extra


async def drive(chunks: AsyncIterator[bytes], ingest: Ingest, block_size: int = BLOCK_SIZE) -> None:
    """Pump ``chunks`` through ``ingest`` in blocks of exactly ``block_size`` bytes (the last
    may be shorter), one block in flight. Exact blocks line up with the stores' chunks, so a
    writer can pass them on without copying them (the RBD writer does)."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    parts: list[bytes | memoryview] = []
    held = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            parts.append(chunk)
            held += len(chunk)
            while held >= block_size:
                block, held = _cut(parts, held, block_size)
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, ingest.process, block)
        if pending is not None:
            await pending
            pending = None
        if parts:
            await loop.run_in_executor(None, ingest.process, b"".join(parts))
    except UnsafeImage:
        # refused early: read (and drop) the rest of the body, so that a client still sending
        # gets the refusal instead of a reset connection; nothing more is written or hashed.
        await _drain(chunks, ingest.size_cap - ingest.size)
        raise
    finally:
        if pending is not None:
            # the stream failed while a block was in flight: let it finish before the caller
            # aborts the writer, so abort never races a write.
            await asyncio.gather(pending, return_exceptions=True)


async def _drain(chunks: AsyncIterator[bytes], limit: int) -> None:
    """Consume ``chunks`` without keeping them, up to ``limit`` bytes."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            return


def drive_file(path: str | os.PathLike[str], ingest: Ingest, block_size: int = BLOCK_SIZE,
               read: Callable[[int, int, int], bytes] = os.pread) -> None:
    """Pump a local file through ``ingest`` in blocks of ``block_size``, reading only its data.

    A converted image is mostly holes (an empty 8 GiB qcow2 becomes an 8 GiB sparse raw file):
    blocks that lie wholly in a hole (``SEEK_DATA``) are fed as zeros from one shared buffer,
    never read from disk, so they cost the hashes and nothing else (a thin writer skips them).
    ``read`` is ``os.pread``'s signature (tests count what is read).
    """
    zeros = _zero_block(block_size)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        next_data = -1  # offset of the next data at or after the current block; -1: unknown
        for offset in range(0, size, block_size):
            length = min(block_size, size - offset)
            if next_data < offset:
                next_data = _next_data(fd, offset, size)
            if next_data >= offset + length:
                ingest.process(zeros if length == block_size else zeros[:length])
                continue
            block = read(fd, length, offset)
            if len(block) != length:
                raise SizeMismatch(f"{path} changed while it was read")
            ingest.process(block)
    finally:
        os.close(fd)


def _next_data(fd: int, offset: int, size: int) -> int:
    """The offset of the first data byte at or after ``offset`` (``size`` if none); where the
    filesystem cannot tell, ``offset`` (read everything)."""
    try:
        return os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # only a hole up to the end
            return size
        return offset


@functools.cache
def _zero_block(size: int) -> bytes:
    return bytes(size)


def drive_sync(reader: BinaryIO, ingest: Ingest, block_size: int = BLOCK_SIZE) -> None:
    """Pump a binary file object through ``ingest`` (the CLI and import paths)."""
    while True:
        block = reader.read(block_size)
        if not block:
            return
        ingest.process(block)
