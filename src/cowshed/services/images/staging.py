"""PUT /stage (glance-direct's first half) and the expiry of staged data nobody imported.

Staged data lives in the staging store under the image id while the image is ``uploading``.
Two leftovers are closed here: a DELETE that lands while a stage streams (the stage's commit
would otherwise publish a staged file for an image that no longer exists), and an image staged
and never imported, which :func:`expire_staged` (run by the maintenance sweep) returns to
``queued`` after ``staging_expiry`` seconds (Glance cleans its staging area at start-up only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator

from cowshed.backends.base import Writer
from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image, ImageStatus
from cowshed.errors import (
    Conflict,
    Gone,
    InvalidStatusTransition,
    NotFound,
)
from cowshed.services.context import Deps
from cowshed.services.images.access import ImageAccess
from cowshed.services.images.inspection import inspector_for
from cowshed.services.images.quotas import ImageQuotas
from cowshed.services.images.service import requeue
from cowshed.services.ingest import Ingest, check_promised_size, drive
from cowshed.services.pools import run_to_end

log = logging.getLogger(__name__)
#: the import lock property (imports.LOCK); an image holding it is being imported.
_IMPORT_LOCK = "os_glance_import_task"


class Staging:
    """Stage data for glance-direct and expire what was staged and never imported."""

    def __init__(self, deps: Deps, access: ImageAccess) -> None:
        self.deps = deps
        self.access = access
        self.repo = deps.repo
        self.settings = deps.settings

    async def stage(self, ctx: RequestContext, image_id: str, chunks: AsyncIterator[bytes],
                    size: int | None) -> None:
        """PUT stage: queued → uploading; the data is inspected while it streams in.

        Database and file calls (commit fsyncs) run in worker threads: a large stage must not
        stall the event loop, and with it every other request. Gone (410) if the image was
        deleted meanwhile; its staged data is then removed, not left for the next start.
        """
        # the ``image:<id>`` lease is held while the data streams in (services/ownership.py)
        lease = await asyncio.to_thread(self.deps.owners.lease, f"image:{image_id}")
        try:
            image, writer, cap = await asyncio.to_thread(self._begin, ctx, image_id, size)
            # staged bytes are scratch: the stored image is hashed when the import writes it
            ingest = Ingest(writer, expected_size=size, size_cap=cap,
                            inspector=inspector_for(image, self.settings), hashing=False)
            try:
                await drive(chunks, ingest)
                ingest.finish()
                await asyncio.to_thread(writer.commit)
            except BaseException:
                # ingest.close(): no block still in a pool thread writes after the abort
                await run_to_end(self.deps.pools.blocking, self._abort, image_id, writer,
                                 ingest)
                raise
            await asyncio.to_thread(self._keep_if_wanted, image_id)
        finally:
            await run_to_end(self.deps.pools.blocking, lease.release)

    def _begin(self, ctx: RequestContext, image_id: str, size: int | None
               ) -> tuple[Image, Writer, int]:
        if "glance-direct" not in self.settings.enabled_import_methods:
            raise NotFound("The glance-direct import method is not enabled")
        image = self.repo.get_image(image_id)
        self.access.check(ctx, image, "modify_image")
        if self.deps.staging.exists(image_id):
            raise Conflict(f"Image {image_id} already has staged data")
        cap = ImageQuotas(self.deps).data_cap(image.owner, staging=True)
        check_promised_size(size, cap)
        if image.status != ImageStatus.QUEUED:
            raise InvalidStatusTransition(f"Image {image_id} is {image.status}, not queued")
        self.repo.set_status(image_id, ImageStatus.QUEUED, ImageStatus.UPLOADING)
        try:
            return image, self.deps.staging.open_writer(image_id, size), cap
        except BaseException:
            self.revert(image_id, ImageStatus.UPLOADING)
            raise

    def _abort(self, image_id: str, writer: Writer, ingest: Ingest) -> None:
        ingest.close()
        writer.abort()
        self.revert(image_id, ImageStatus.UPLOADING)

    def _keep_if_wanted(self, image_id: str) -> None:
        """After the commit: if the image was deleted while the data streamed in, drop it.

        A delete marks the row before it removes staged data, and this check follows the
        commit, so whichever comes second sees the other: the file never outlives the image.
        """
        try:
            status = self.repo.get_image(image_id).status
        except NotFound:
            status = ImageStatus.DELETED
        if status != ImageStatus.UPLOADING:
            with contextlib.suppress(NotFound):
                self.deps.staging.delete(image_id)
            raise Gone(f"Image {image_id} was deleted while its data was being staged")

    def revert(self, image_id: str, current: ImageStatus) -> None:
        """Back to queued (compare-and-set from ``current``) and no staged data."""
        requeue(self.repo, image_id, current)
        with contextlib.suppress(NotFound):
            self.deps.staging.delete(image_id)

    def expire(self, now: float | None = None) -> int:
        """See :func:`expire_staged`."""
        return expire_staged(self.deps, now)


def expire_staged(deps: Deps, now: float | None = None) -> int:
    """Return images staged more than ``staging_expiry`` seconds ago and never imported to
    ``queued``, removing their staged data; returns how many (the maintenance sweep runs this).

    Only committed staged files count (a stage in progress has none yet), only images still
    ``uploading`` and not locked by an import; the status compare-and-set makes an import that
    starts at the same moment and the expiry exclude each other.
    """
    limit = (time.time() if now is None else now) - deps.settings.staging_expiry
    expired = 0
    for image_id in deps.repo.ids_in_status([ImageStatus.UPLOADING]):
        path = deps.staging.local_path(image_id)
        try:
            if path is None or _mtime(path) > limit:
                continue
            if _IMPORT_LOCK in deps.repo.get_image(image_id).properties:
                continue
            deps.repo.set_status(image_id, ImageStatus.UPLOADING, ImageStatus.QUEUED)
        except (FileNotFoundError, NotFound, InvalidStatusTransition):
            continue
        with contextlib.suppress(NotFound):
            deps.staging.delete(image_id)
        log.info("staged data of image %s expired (never imported)", image_id)
        expired += 1
    return expired


def _mtime(path: str) -> float:
    return os.stat(path).st_mtime
