"""The locations API (Image API 2.17): ``POST`` and ``GET /v2/images/{id}/locations``.

A service (Cinder uploading a volume by RBD clone, for example) puts an image's data straight
into one of cowshed's stores under the image's id and then registers the location. cowshed
accepts only the URL it would itself give that data (``backend.location(image_id)`` of a
configured store): never a URL it would have to fetch, nor another image's data. The image goes
``queued`` → ``importing`` at once and a ``location_import`` task reads the data back through
the same pass as an upload (md5 + sha512, the format inspector, the size cap). Only if that pass
agrees (and ``validation_data``, when given, matches the hashes) does the image turn ``active``;
otherwise the location is forgotten and the image returns to ``queued``. Deleting the image
meanwhile cancels the pass at its next block; a crash leaves an ``importing`` image that
start-up recovery returns to ``queued``.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from cowshed.backends.base import Backend, StoredObject
from cowshed.db.repository import Repository
from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image, ImageStatus, Location
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.errors import Conflict, CowshedError, Gone, InvalidRequest, NotFound
from cowshed.services.context import Deps
from cowshed.services.images.access import ImageAccess
from cowshed.services.images.imports import TASK_TTL
from cowshed.services.images.inspection import inspector_for
from cowshed.services.images.service import require_formats
from cowshed.services.ingest import BLOCK_SIZE, Ingest, IngestResult

log = logging.getLogger(__name__)
_HEX = frozenset("0123456789abcdef")


class _Discard:
    """A writer that keeps nothing: the data is already in the store, only read here."""

    def write(self, data: bytes | memoryview) -> None:
        pass

    def commit(self) -> StoredObject:  # pragma: no cover - never committed
        raise NotImplementedError

    def abort(self) -> None:
        pass


def _validation(body: dict[str, Any]) -> dict[str, str]:
    """``validation_data``: sha512 hashes only (the algorithm cowshed computes), hex digests."""
    data = body.get("validation_data", {})
    if not isinstance(data, dict) or set(data) - {"os_hash_algo", "os_hash_value", "checksum"}:
        raise InvalidRequest("validation_data may hold os_hash_algo, os_hash_value, checksum")
    algo = data.get("os_hash_algo", "sha512" if "os_hash_value" in data else None)
    if algo is not None and algo != "sha512":
        raise InvalidRequest(f"os_hash_algo {algo!r} does not match this server's sha512")
    for key, length in (("os_hash_value", 128), ("checksum", 32)):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or len(value) != length
                                  or set(value.lower()) - _HEX):
            raise InvalidRequest(f"validation_data {key} must be {length} hex digits")
    return {k: str(v).lower() for k, v in data.items() if k != "os_hash_algo"}


class LocationService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.repo: Repository = deps.repo
        self.access = ImageAccess(deps.repo, deps.policy)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cowshed-location")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def list(self, ctx: RequestContext, image_id: str) -> list[Location]:
        image = self.repo.get_image(image_id)
        self.access.check(ctx, image, "fetch_image_location")
        return list(image.locations)

    def add(self, ctx: RequestContext, image_id: str, body: Any) -> Task:
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise InvalidRequest("The body must be an object with a 'url' string")
        extra = set(body) - {"url", "validation_data"}
        if extra:
            raise InvalidRequest(f"Unknown keys in the location: {sorted(extra)}")
        expected = _validation(body)
        image = self.repo.get_image(image_id)
        self.access.check(ctx, image, "add_image_location")
        if image.status != ImageStatus.QUEUED:
            raise Conflict(f"Image {image_id} is {image.status}: a location can be added only "
                           "while it is queued")
        require_formats(image)
        backend = self._backend_for(image_id, body["url"])
        self.repo.set_status(image_id, ImageStatus.QUEUED, ImageStatus.IMPORTING)
        now = utcnow()
        task = Task(id=str(uuid.uuid4()), image_id=image_id, type="location_import",
                    status=TaskStatus.PROCESSING, input={"url": body["url"], **(
                        {"validation_data": body["validation_data"]}
                        if "validation_data" in body else {})},
                    result=None, message="", owner=ctx.project_id, created_at=now,
                    updated_at=now, expires_at=None)
        self.repo.insert_task(task)
        self.repo.add_location(image_id, Location(store=backend.name, url=body["url"]))
        self._pool.submit(self._run, task, image, backend, expected)
        return task

    def _backend_for(self, image_id: str, url: str) -> Backend:
        """The store whose own location of ``image_id`` is exactly ``url``, holding data."""
        for name in self.deps.stores.names():
            backend = self.deps.stores.get(name)
            if backend.location(image_id) == url:
                if not backend.exists(image_id):
                    raise InvalidRequest(f"Store {name} holds no data for image {image_id}")
                return backend
        raise InvalidRequest(f"{url} is not where any store of this server keeps image "
                             f"{image_id}; only a store's own location of the image is accepted")

    # --- the background pass ------------------------------------------------------------------

    def _run(self, task: Task, image: Image, backend: Backend, expected: dict[str, str]) -> None:
        try:
            result = self._read_back(image, backend)
            _compare(result, expected)
            self.repo.set_status(
                image.id, ImageStatus.IMPORTING, ImageStatus.ACTIVE, size=result.size,
                checksum=result.checksum, os_hash_algo=result.os_hash_algo,
                os_hash_value=result.os_hash_value,
                virtual_size=result.inspection.virtual_size if result.inspection else None,
                formats=(image.disk_format, image.container_format))
        except Exception as exc:  # the task records every failure; nothing propagates
            self._fail(task, image.id, exc)
            return
        self._finish(task, TaskStatus.SUCCESS, "", {"image_id": image.id})

    def _read_back(self, image: Image, backend: Backend) -> IngestResult:
        ingest = Ingest(_Discard(), expected_size=None,
                        size_cap=self.deps.settings.image_size_cap,
                        inspector=inspector_for(image, self.deps.settings))
        pending = bytearray()
        for chunk in backend.open_read(image.id):
            pending += chunk
            while len(pending) >= BLOCK_SIZE:
                self._still_wanted(image.id)
                ingest.process(bytes(pending[:BLOCK_SIZE]))
                del pending[:BLOCK_SIZE]
        self._still_wanted(image.id)
        if pending:
            ingest.process(bytes(pending))
        return ingest.finish()

    def _still_wanted(self, image_id: str) -> None:
        """Cancellation point: the image was deleted (or moved on) while we read it."""
        try:
            status = self.repo.get_image(image_id).status
        except NotFound:
            raise Gone(f"Image {image_id} was deleted while its location was checked") from None
        if status != ImageStatus.IMPORTING:
            raise Gone(f"Image {image_id} is {status} now; the location check stopped")

    def _fail(self, task: Task, image_id: str, exc: Exception) -> None:
        message = exc.message if isinstance(exc, CowshedError) else f"unexpected error: {exc}"
        if not isinstance(exc, CowshedError):
            log.exception("location check of %s failed", image_id)
        try:
            if self.repo.get_image(image_id).status == ImageStatus.IMPORTING:
                for loc in self.repo.get_image(image_id).locations:
                    self.repo.remove_location(image_id, loc.store)
                self.repo.set_status(image_id, ImageStatus.IMPORTING, ImageStatus.QUEUED)
        except CowshedError:
            pass  # deleted or moved on meanwhile: nothing to restore
        self._finish(task, TaskStatus.FAILURE, message, None)

    def _finish(self, task: Task, status: TaskStatus, message: str,
                result: dict[str, Any] | None) -> None:
        now = utcnow()
        self.repo.save_task(replace(task, status=status, message=message, result=result,
                                    updated_at=now, expires_at=now + TASK_TTL))


def _compare(result: IngestResult, expected: dict[str, str]) -> None:
    if "os_hash_value" in expected and expected["os_hash_value"] != result.os_hash_value:
        raise InvalidRequest("The data's sha512 does not match validation_data os_hash_value")
    if "checksum" in expected and expected["checksum"] != result.checksum:
        raise InvalidRequest("The data's md5 does not match validation_data checksum")
