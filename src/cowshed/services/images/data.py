"""Image data in and out: upload (PUT file), download plans, and crash recovery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cowshed.backends.base import Backend, StoredObject, Writer
from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image, ImageStatus, Location
from cowshed.errors import (
    CowshedError,
    Forbidden,
    Gone,
    InvalidStatusTransition,
    NotFound,
    RangeNotSatisfiable,
)
from cowshed.services.context import Deps
from cowshed.services.images.access import ImageAccess, not_found
from cowshed.services.images.inspection import inspector_for
from cowshed.services.images.quotas import ImageQuotas
from cowshed.services.images.service import requeue, require_formats
from cowshed.services.ingest import Ingest, IngestResult, check_promised_size, drive
from cowshed.services.ownership import Lease
from cowshed.services.pools import run_to_end

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadPlan:
    """How to send (part of) an image: a local file for sendfile, or a chunk iterator."""

    image: Image
    store: str
    size: int
    offset: int
    length: int
    path: str | None
    chunks: Iterator[bytes] | None

    def blocks(self, block_size: int) -> Iterator[bytes]:
        """The planned bytes, read from the local file in ``block_size`` pieces or from the
        backend's iterator. Opens the file now (blocking: call it off the event loop), so a
        file that vanished since the plan is Gone before any answer is sent. The iterator
        raises Gone if the data ends before ``length`` bytes."""
        if self.path is not None:
            return _file_range(_open_data(self.path), self.offset, self.length, block_size)
        if self.chunks is None:
            raise NotFound(f"Image {self.image.id} has no readable data")
        return self.chunks


def _close_and_abort(ingest: Ingest, writer: Writer) -> None:
    ingest.close()
    writer.abort()


def _open_data(path: str) -> BinaryIO:
    try:
        return open(path, "rb", buffering=0)  # closed by _file_range
    except FileNotFoundError:
        raise Gone(f"the data file of the image vanished: {path}") from None


def _file_range(fh: BinaryIO, offset: int, length: int, block_size: int) -> Iterator[bytes]:
    with fh:
        fh.seek(offset)
        remaining = length
        while remaining > 0:
            block = fh.read(min(block_size, remaining))
            if not block:
                raise Gone(f"the data of the image ended {remaining} bytes early")
            remaining -= len(block)
            yield block


@dataclass(frozen=True)
class _Start:
    """An upload that may go ahead: the image (now saving), its store and its size cap."""

    image: Image
    backend: Backend
    cap: int
    #: ``image:<id>``, held until the image is active or queued again.
    lease: Lease


class DataService:
    """Moves image bytes between clients and stores."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.repo = deps.repo
        self.settings = deps.settings
        self.access = ImageAccess(deps.repo, deps.policy)
        self.quotas = ImageQuotas(deps)

    def _open_writer(self, backend: Backend, image_id: str, size: int | None) -> Writer:
        if backend.exists(image_id) and backend.name not in self.repo.get_image(image_id).stores:
            # the leftover of a crash between commit and record update: nothing refers to it.
            backend.delete(image_id)
        return backend.open_writer(image_id, size)

    async def upload(
        self, ctx: RequestContext, image_id: str, chunks: AsyncIterator[bytes], size: int | None,
        store: str | None,
    ) -> Image:
        """PUT file: queued → saving → active; any failure puts the image back to queued.

        Every database and store call runs in the blocking pool (``asyncio.to_thread``): the
        event loop only moves bytes, so a slow database never stalls other requests.
        """
        start = await asyncio.to_thread(self._begin, ctx, image_id, size, store)
        try:
            stored, result = await self._receive(start, chunks, size)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                log.warning("upload of %s cancelled (the server is stopping); the image goes "
                            "back to queued", image_id)
            await run_to_end(self.deps.pools.blocking, self._requeue, image_id, start.lease)
            raise
        try:
            return await asyncio.to_thread(self._activate, start.image, start.backend, stored,
                                           result)
        finally:
            await run_to_end(self.deps.pools.blocking, start.lease.release)

    def _requeue(self, image_id: str, lease: Lease) -> None:
        try:
            requeue(self.repo, image_id, ImageStatus.SAVING)
        finally:
            lease.release()

    def _begin(self, ctx: RequestContext, image_id: str, size: int | None, store: str | None
               ) -> _Start:
        """Check the upload may start and move the image to saving (compare-and-set)."""
        image = self.repo.get_image(image_id)
        self.access.check(ctx, image, "upload_image")
        require_formats(image)
        cap = self.quotas.data_cap(image.owner, staging=False)
        check_promised_size(size, cap)
        backend = self.deps.stores.get(store)
        if image.status != ImageStatus.QUEUED:
            raise InvalidStatusTransition(
                f"Image status transition from {image.status} to saving is not allowed"
            )
        # the lease first: while the image is saving, a live lease says someone writes it
        lease = self.deps.owners.lease(f"image:{image_id}")
        try:
            # inspection is decided from these formats: the status moves only if they still hold
            self.repo.set_status(image_id, ImageStatus.QUEUED, ImageStatus.SAVING,
                                 formats=(image.disk_format, image.container_format))
        except BaseException:
            lease.release()
            raise
        return _Start(image, backend, cap, lease)

    async def _receive(
        self, start: _Start, chunks: AsyncIterator[bytes], size: int | None,
    ) -> tuple[StoredObject, IngestResult]:
        image, backend = start.image, start.backend
        writer = await asyncio.to_thread(self._open_writer, backend, image.id, size)
        ingest = Ingest(
            writer, expected_size=size, size_cap=start.cap,
            inspector=inspector_for(image, self.settings), hash_pool=self.deps.pools.hashing,
        )
        try:
            await drive(chunks, ingest)
            result = ingest.finish()
            stored = await asyncio.to_thread(writer.commit)
        except BaseException:
            # runs to its end even when this task is cancelled (again) while waiting for it
            await run_to_end(self.deps.pools.blocking, _close_and_abort, ingest, writer)
            raise
        return stored, result

    def _activate(
        self, image: Image, backend: Backend, stored: StoredObject, result: IngestResult,
    ) -> Image:
        virtual = None
        if result.inspection is not None:
            virtual = result.inspection.virtual_size
        try:
            self.repo.add_location(image.id, Location(store=backend.name, url=stored.location))
            self.repo.set_status(
                image.id, ImageStatus.SAVING, ImageStatus.ACTIVE, size=result.size,
                checksum=result.checksum, os_hash_algo=result.os_hash_algo,
                os_hash_value=result.os_hash_value, virtual_size=virtual,
                formats=(image.disk_format, image.container_format),
            )
        except CowshedError as exc:
            self._drop(backend, image.id)
            if isinstance(exc, NotFound) or self._being_deleted(image.id):
                raise Gone(f"Image {image.id} was deleted during the upload") from exc
            self.repo.remove_location(image.id, backend.name)
            requeue(self.repo, image.id, ImageStatus.SAVING)
            raise
        return self.repo.get_image(image.id)

    def _being_deleted(self, image_id: str) -> bool:
        try:
            return self.repo.get_image(image_id).status == ImageStatus.DELETED
        except NotFound:
            return True

    @staticmethod
    def _drop(backend: Backend, key: str) -> None:
        try:
            backend.delete(key)
        except CowshedError:
            log.exception("could not remove %s from store %s", key, backend.name)

    def plan_download(
        self, ctx: RequestContext, image_id: str, byte_range: tuple[int, int | None] | None,
        prefer: list[str], suffix: int | None = None,
    ) -> DownloadPlan | None:
        """Where to read ``image_id`` from, or None when it has no data (204).

        ``byte_range`` is (first, last-or-None); ``suffix`` means the last N bytes. A
        deactivated image's data is refused (Forbidden) unless the caller is admin (Glance's
        rule).
        """
        image = self.repo.get_image(image_id)
        if image.status == ImageStatus.DELETED:  # a delete is under way
            raise not_found(image_id)
        self.access.check(ctx, image, "download_image")
        if image.status == ImageStatus.DEACTIVATED and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        if not image.locations:
            return None
        store = self._pick_store(image, prefer)
        backend = self.deps.stores.get(store)
        size = image.size if image.size is not None else backend.stat(image_id).size
        offset, length = _resolve_range(byte_range, suffix, size)
        path = backend.local_path(image_id) if backend.capabilities.local_files else None
        chunks = None if path else backend.open_read(image_id, offset, length)
        return DownloadPlan(image, store, size, offset, length, path, chunks)

    def _pick_store(self, image: Image, prefer: list[str]) -> str:
        stores = list(image.stores)
        for name in prefer:
            if name in stores:
                return name
        return self.deps.stores.by_weight(stores)[0] if stores else stores[0]


def _resolve_range(
    byte_range: tuple[int, int | None] | None, suffix: int | None, size: int,
) -> tuple[int, int]:
    if suffix is not None:
        if suffix <= 0 or size == 0:
            raise RangeNotSatisfiable("Requested range not satisfiable", size)
        start = max(0, size - suffix)
        return start, size - start
    if byte_range is None:
        return 0, size
    first, last = byte_range
    if first >= size:
        raise RangeNotSatisfiable("Requested range not satisfiable", size)
    end = size - 1 if last is None else min(last, size - 1)
    return first, end - first + 1
