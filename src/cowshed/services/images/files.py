"""Local files in and out of images: file upload and verified download, for the CLI and scripts.

Both are synchronous wrappers over :class:`~cowshed.services.data.DataService`, so the image
status machine, inspection and hashing stay in one place. ``progress`` callbacks receive byte
counts as the data moves; they run on the calling thread (upload: the event loop's thread).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image
from cowshed.errors import DataCorrupted, InvalidRequest, NotFound
from cowshed.services.images.data import DataService
from cowshed.services.ingest import BLOCK_SIZE

Progress = Callable[[int], None]


async def read_blocks(
    path: Path, block_size: int = BLOCK_SIZE, progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """Yield the bytes of ``path`` in ``block_size`` blocks, each read in a worker thread."""
    fh = _open(path)
    try:
        while True:
            block = await asyncio.to_thread(fh.read, block_size)
            if not block:
                return
            if progress is not None:
                progress(len(block))
            yield block
    finally:
        fh.close()


def upload_file(
    ctx: RequestContext, data: DataService, image_id: str, path: Path, store: str | None = None,
    progress: Progress | None = None,
) -> Image:
    """Upload ``path`` as the data of queued image ``image_id`` (PUT file semantics).

    Runs its own event loop, so call it from synchronous code only. Returns the active image;
    on failure the image is back in ``queued`` and nothing is left in the store.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    chunks = read_blocks(path, progress=progress)
    return asyncio.run(data.upload(ctx, image_id, chunks, size, store))


def download_to(
    ctx: RequestContext, data: DataService, image_id: str, out: BinaryIO,
    progress: Progress | None = None,
) -> Image:
    """Write the data of ``image_id`` to ``out`` and check size, md5 and multihash.

    Raises NotFound when the image has no data, DataCorrupted when the bytes do not match the
    record (``out`` then holds the bad bytes: write to a temporary file, see download_file).
    """
    plan = data.plan_download(ctx, image_id, None, [])
    if plan is None:
        raise NotFound(f"Image {image_id} has no data")
    image = plan.image
    verifier = _Verifier(image)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cowshed-verify") as pool:
        pending: list[Future[None]] = []
        blocks = plan.blocks(BLOCK_SIZE)
        try:
            for block in blocks:
                _wait(pending)  # the previous block's hashes ran while this one was read
                pending = verifier.submit(pool, block)
                out.write(block)
                if progress is not None:
                    progress(len(block))
        finally:
            _wait(pending)
            _close(blocks)
    verifier.check(plan.length)
    return image


def download_file(
    ctx: RequestContext, data: DataService, image_id: str, dest: Path,
    progress: Progress | None = None,
) -> Image:
    """Download to ``dest`` through ``dest.part``: ``dest`` appears only once verified."""
    part = dest.with_name(dest.name + ".part")
    try:
        with part.open("wb") as out:
            image = download_to(ctx, data, image_id, out, progress)
            out.flush()
            os.fsync(out.fileno())
        part.replace(dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return image


class _Verifier:
    """md5 and the image's multihash, updated in two pool threads per block."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.multi = hashlib.new(image.os_hash_algo) if image.os_hash_algo else None

    def submit(self, pool: ThreadPoolExecutor, block: bytes) -> list[Future[None]]:
        self.size += len(block)
        futures = [pool.submit(self.md5.update, block)]
        if self.multi is not None:
            futures.append(pool.submit(self.multi.update, block))
        return futures

    def check(self, expected_size: int) -> None:
        image = self.image
        if self.size != expected_size:
            raise DataCorrupted(
                f"Image {image.id}: read {self.size} bytes, expected {expected_size}"
            )
        if image.checksum and self.md5.hexdigest() != image.checksum:
            raise DataCorrupted(
                f"Image {image.id}: md5 {self.md5.hexdigest()} does not match the recorded "
                f"checksum {image.checksum}"
            )
        if self.multi is not None and self.multi.hexdigest() != image.os_hash_value:
            raise DataCorrupted(
                f"Image {image.id}: {image.os_hash_algo} does not match the recorded "
                f"os_hash_value"
            )


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb", buffering=0)
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None


def _wait(futures: list[Future[None]]) -> None:
    for future in futures:
        future.result()


def _close(blocks: Iterator[bytes]) -> None:
    close = getattr(blocks, "close", None)
    if close is not None:
        close()
