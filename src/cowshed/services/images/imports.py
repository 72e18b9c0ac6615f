"""Interoperable import: stage (glance-direct), web-download, copy-image, and their tasks.

An import holds a lock on the image (the ``os_glance_import_task`` property, claimed
atomically), runs in a worker thread, reports progress in ``os_glance_importing_to_stores`` /
``os_glance_failed_import``, and on any failure returns the image to ``queued`` (copy-image
leaves it ``active``) and drops everything it wrote.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image, ImageStatus, Location
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.errors import (
    Conflict,
    CowshedError,
    InvalidRequest,
    NotFound,
    TooManyRequests,
)
from cowshed.formats.policy import ConversionPolicy, convert_for_store, inspection_required
from cowshed.formats.qemu_img import QemuImg, default_qemu_img
from cowshed.services.context import Deps
from cowshed.services.images.access import ImageAccess
from cowshed.services.images.import_request import ImportRequest, parse_import_request
from cowshed.services.images.inspection import inspector_config, inspector_for
from cowshed.services.images.quotas import ImageQuotas
from cowshed.services.images.service import require_formats
from cowshed.services.images.staging import Staging
from cowshed.services.images.webdownload import open_download
from cowshed.services.ingest import Ingest, IngestResult, check_promised_size, drive_file
from cowshed.services.ownership import Lease

log = logging.getLogger(__name__)
T = TypeVar("T")
LOCK = "os_glance_import_task"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"
#: a lock whose task made no progress for this long may be broken (Glance: 60 min).
STALE_LOCK = timedelta(minutes=60)
#: how often a running task refreshes its ``updated_at``.
HEARTBEAT = timedelta(minutes=1)
TASK_TTL = timedelta(hours=48)


@dataclass(frozen=True)
class _Source:
    """The bytes an import stores: a local file (staged/converted) and its format, and the
    image's (disk_format, container_format) that decided how those bytes were checked."""

    path: Path
    disk_format: str
    virtual_size: int | None
    decided_by: tuple[str, str]


class ImportService:
    """Stage data, start imports, and report their tasks."""

    def __init__(self, deps: Deps, qemu: QemuImg | None = None) -> None:
        self.deps = deps
        self.repo = deps.repo
        self.settings = deps.settings
        self._qemu = qemu
        self.access = ImageAccess(deps.repo, deps.policy)
        workers = self.settings.import_workers
        # the services' jobs pool, sized by import_workers (services/pools.py)
        self._pool = deps.pools.jobs
        #: one per import running or waiting for a worker (start() takes, the worker returns)
        self._slots = threading.BoundedSemaphore(workers + self.settings.import_queue_size)
        self.staging = Staging(deps, self.access)

    @property
    def qemu(self) -> QemuImg:
        if self._qemu is None:
            self._qemu = default_qemu_img()
        return self._qemu

    def close(self) -> None:
        """Nothing to stop: the jobs pool is the services' (Services.close waits for it)."""

    # -- stage ----------------------------------------------------------------------------

    async def stage(self, ctx: RequestContext, image_id: str, chunks: AsyncIterator[bytes],
                    size: int | None) -> None:
        """PUT stage (see :meth:`Staging.stage`)."""
        await self.staging.stage(ctx, image_id, chunks, size)

    # -- import ---------------------------------------------------------------------------

    def start(self, ctx: RequestContext, image_id: str, body: object,
              header_store: str | None = None) -> Task:
        """Validate an import request, lock the image and run the import in the background.

        ``header_store`` is the X-Image-Meta-Store header, the legacy form of ``stores``.
        copy-image needs the ``copy_image`` rule (admin), the other methods ``modify_image``.
        """
        image = self.repo.get_image(image_id)
        self.access.check(ctx, image)
        request = parse_import_request(body, self.settings, self.deps.stores.names(),
                                       header_store)
        self.access.check(ctx, image, "copy_image" if request.method == "copy-image"
                          else "modify_image")
        targets = self._targets(image, request)
        self._precheck(image, request)
        ImageQuotas(self.deps).check_import(image.owner)
        # A refused request changes nothing: its slot, its task row and the lock go again, and
        # the image's status and os_glance_* properties are only written once it is accepted.
        self._take_slot()
        # leased before the task row and the lock exist, dropped once the task has ended:
        # while they live, no sweep of any process takes the task or the image (ownership.py)
        task_id = str(uuid.uuid4())
        leases: list[Lease] = []
        try:
            leases += [self.deps.owners.lease(f"task:{task_id}"),
                       self.deps.owners.lease(f"image:{image_id}")]
            task = self._new_task(image_id, body, ctx.project_id, task_id)
        except BaseException:
            self._give_back(leases)
            raise
        try:
            self._lock(image, task)
        except BaseException:
            self.repo.delete_task(task.id)
            self._give_back(leases)
            raise
        try:
            # read again under the lock: an import that ended between the first read and the
            # lock (in any process) may have done what this one asks (copy-image to a store
            # the image is now in): judged on the image as it is now, this one is refused
            image = self.repo.get_image(image_id)
            targets = self._targets(image, request)
            self._precheck(image, request)
            self._begin(image, request, targets)
            self._pool.submit(self._run_in_slot, task, image_id, request, targets, leases)
        except BaseException:
            self.repo.release_property(image_id, LOCK, task.id)
            self.repo.delete_task(task.id)
            self._give_back(leases)
            raise
        return task

    def _give_back(self, leases: list[Lease]) -> None:
        """Return the import slot and the leases of an import that ends (or never started)."""
        try:
            for lease in leases:
                self._settle(f"release lease {lease.resource}", lease.release)
        finally:
            self._slots.release()

    def _take_slot(self) -> None:
        """Reserve a place among the running and waiting imports, or refuse (429) at once:
        imports that wait forever behind slow ones are worse than a clear "retry later"."""
        if not self._slots.acquire(blocking=False):
            workers, queue = self.settings.import_workers, self.settings.import_queue_size
            raise TooManyRequests(
                f"The import queue is full: {workers + queue} imports are running or waiting "
                f"(import_workers={workers}, import_queue_size={queue}); retry later",
                retry_after=30)

    def _run_in_slot(self, task: Task, image_id: str, request: ImportRequest,
                     targets: list[str], leases: list[Lease]) -> None:
        try:
            self._run(task, image_id, request, targets)
        finally:
            self._give_back(leases)

    def _targets(self, image: Image, request: ImportRequest) -> list[str]:
        stores = self.deps.stores
        if request.all_stores:
            wanted = stores.names()
        elif request.stores:
            wanted = list(request.stores)
        else:
            wanted = [stores.default_name]
        if request.method == "copy-image":
            held = set(image.stores)
            if not request.all_stores and any(s in held for s in wanted):
                raise InvalidRequest(f"Image {image.id} already exists in store(s) "
                                     f"{', '.join(s for s in wanted if s in held)}")
            wanted = [s for s in wanted if s not in held]
            if not wanted:
                raise InvalidRequest(f"Image {image.id} is already in every requested store")
        return wanted

    def _precheck(self, image: Image, request: ImportRequest) -> None:
        if request.method == "copy-image":
            if image.status != ImageStatus.ACTIVE:
                raise Conflict(f"Image {image.id} must be active to copy it; it is {image.status}")
            return
        if image.status == ImageStatus.ACTIVE:
            raise Conflict(f"Image {image.id} is already active")
        if not image.disk_format or not image.container_format:
            raise Conflict("'disk_format' and 'container_format' must be set before import")
        needed = ImageStatus.UPLOADING if request.method == "glance-direct" else ImageStatus.QUEUED
        if image.status != needed:
            raise Conflict(f"Image {image.id} is {image.status}; {request.method} needs {needed}")
        if request.method == "glance-direct" and not self.deps.staging.exists(image.id):
            raise Conflict(f"Image {image.id} has no staged data")

    def _new_task(self, image_id: str, body: object, owner: str | None,
                  task_id: str | None = None) -> Task:
        now = utcnow()
        task = Task(
            id=task_id or str(uuid.uuid4()), image_id=image_id, type="api_image_import",
            status=TaskStatus.PENDING, input=body if isinstance(body, dict) else {},
            result=None, message="", owner=owner, created_at=now,
            updated_at=now, expires_at=None,
        )
        self.repo.insert_task(task)
        return task

    def _lock(self, image: Image, task: Task) -> None:
        if self.repo.claim_property(image.id, LOCK, task.id):
            return
        holder = self.repo.get_image(image.id).properties.get(LOCK)
        if holder is not None and self._stale(holder):
            log.warning("breaking the stale import lock of task %s on image %s", holder, image.id)
            self.repo.release_property(image.id, LOCK, holder)
            if self.repo.claim_property(image.id, LOCK, task.id):
                return
        raise Conflict("Image has an active task: a prior operation is still in progress")

    def _stale(self, task_id: str) -> bool:
        try:
            holder = self.repo.get_task(task_id)
        except NotFound:
            return True
        if holder.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE):
            return True
        resource = f"task:{task_id}"
        if self.repo.lease_holders([resource]):  # leased: its owner's life decides
            return resource not in self.deps.owners.held([resource])
        # a task of an older version (no lease): by its updated_at, as Glance does;
        # a pending task may wait for a worker; Glance allows it twice as long
        limit = STALE_LOCK * 2 if holder.status == TaskStatus.PENDING else STALE_LOCK
        return utcnow() - holder.updated_at > limit

    def _begin(self, image: Image, request: ImportRequest, targets: list[str]) -> None:
        """Move the image to importing (compare-and-set: a racing request loses here, before
        anything changed), then publish the import's progress properties."""
        before = None
        if request.method == "glance-direct":
            before = ImageStatus.UPLOADING
        elif request.method == "web-download":
            before = ImageStatus.QUEUED
        if before is not None:
            self.repo.set_status(image.id, before, ImageStatus.IMPORTING)
        try:
            # Glance empties the failed list at the start of every import flow
            self.repo.set_property(image.id, FAILED, "")
            self.repo.set_property(image.id, IMPORTING_TO, ",".join(targets))
        except BaseException:
            with contextlib.suppress(CowshedError):
                for name in (FAILED, IMPORTING_TO):
                    self.repo.set_property(image.id, name, image.properties.get(name))
                if before is not None:
                    self.repo.set_status(image.id, ImageStatus.IMPORTING, before)
            raise

    # -- the worker -----------------------------------------------------------------------

    def _run(self, task: Task, image_id: str, request: ImportRequest, targets: list[str]) -> None:
        """The worker (the pool's entry point). The task turns terminal last: once a client sees
        success or failure, the lock is gone and the staged and scratch files are removed.

        Nothing may escape into the pool's future, where nobody would look: a failure while
        recording the task, releasing the lock or ending the task is retried (a database
        hiccup), and logged if it persists; the task's heartbeat then stops, so its lease
        expires and the maintenance sweep ends it.
        """
        try:
            status, message = self._attempt(task, image_id, request, targets)
            from cowshed import metrics  # here: a process that never imports skips prometheus

            metrics.IMPORTS.labels(request.method, str(status)).inc()
            self._settle(f"release the lock of task {task.id}",
                         lambda: self.repo.release_property(image_id, LOCK, task.id))
            result = {"image_id": image_id} if status == TaskStatus.SUCCESS else None
            self._settle(f"end task {task.id}",
                         lambda: self._finish_task(task, status, message, result))
        except BaseException:
            log.exception("import worker of task %s on %s failed", task.id, image_id)
            raise

    def _attempt(self, task: Task, image_id: str, request: ImportRequest,
                 targets: list[str]) -> tuple[TaskStatus, str]:
        """Do the import; on any failure undo it. Returns the task's outcome, never raises."""
        scratch: list[Path] = []
        written: list[str] = []
        try:
            with self._heartbeat(task.id):
                task = self._save_task(task, status=TaskStatus.PROCESSING)
                self._work(task, image_id, request, targets, scratch, written)
            return TaskStatus.SUCCESS, ""
        except Exception as exc:  # the task records every failure; nothing may escape silently
            message = exc.message if isinstance(exc, CowshedError) else repr(exc)
            log.warning("import %s of %s failed: %s", task.id, image_id, message)
            try:
                self._undo(image_id, request, targets, written)
            except Exception:  # the task must still end; recovery reconciles the rest
                log.exception("could not undo import %s of %s", task.id, image_id)
            return TaskStatus.FAILURE, message
        finally:
            for path in scratch:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)

    @staticmethod
    def _settle(what: str, step: Callable[[], object], attempts: int = 4) -> None:
        """Run a bookkeeping ``step``, retrying a failure (0.2, 0.4, 0.8 s apart)."""
        for attempt in range(attempts):
            try:
                step()
                return
            except Exception:
                if attempt == attempts - 1:
                    log.exception("could not %s; its lease will expire", what)
                    return
                time.sleep(0.2 * 2**attempt)

    def _work(self, task: Task, image_id: str, request: ImportRequest, targets: list[str],
              scratch: list[Path], written: list[str]) -> None:
        if request.method == "copy-image":
            self._copy(task, image_id, targets, request, written)
        else:
            source = self._prepare(image_id, request, targets, scratch)
            self._store_all(task, image_id, source, targets, request, written)

    @contextlib.contextmanager
    def _heartbeat(self, task_id: str) -> Iterator[None]:
        """Keep the task's ``updated_at`` fresh while it works (downloads and conversions can
        outlast STALE_LOCK), so nobody breaks the lock of an import that is still running."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT.total_seconds()):
                with contextlib.suppress(Exception):
                    self.repo.touch_task(task_id)

        thread = threading.Thread(target=beat, name=f"cowshed-heartbeat-{task_id[:8]}",
                                  daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _prepare(self, image_id: str, request: ImportRequest, targets: list[str],
                 scratch: list[Path]) -> _Source:
        image = self.repo.get_image(image_id)
        require_formats(image)
        if request.method == "web-download":
            self._download(image, request.uri)
        staged = Path(self.settings.staging_dir / image_id)
        scratch.append(staged)
        assert image.disk_format is not None and image.container_format is not None
        formats = (image.disk_format, image.container_format)
        if not inspection_required(image.container_format):
            # an archive (ova, docker…), not a disk: stored as it is, never given to qemu-img
            return _Source(staged, image.disk_format, None, formats)
        out = self.settings.staging_dir / ".incoming" / f"{image_id}.{secrets.token_hex(6)}.part"
        scratch.append(out)
        policy = ConversionPolicy.from_setting(
            self._conversion_target(targets), inspector=inspector_config(self.settings),
            max_output_size=self.settings.image_size_cap,
        )
        result = convert_for_store(staged, image.disk_format, out, policy, self.qemu)
        return _Source(result.path, result.disk_format, result.virtual_size, formats)

    def _conversion_target(self, targets: Iterable[str]) -> str:
        wanted = {self.deps.stores.spec(name).convert_to for name in targets}
        # raw can be cloned by every backend, so it wins when stores disagree.
        if "raw" in wanted:
            return "raw"
        return wanted.pop() if len(wanted) == 1 else ""

    def _download(self, image: Image, uri: str) -> None:
        with open_download(uri, self.settings) as response:
            check_promised_size(response.size, self.settings.image_size_cap, what=uri)
            writer = self.deps.staging.open_writer(image.id, response.size)
            try:
                ingest = Ingest(writer, hash_pool=self.deps.pools.hashing,
                                expected_size=response.size,
                                size_cap=self.settings.image_size_cap,
                                inspector=inspector_for(image, self.settings), hashing=False)
                for chunk in response.chunks:
                    ingest.process(chunk)
                ingest.finish()
                writer.commit()
            except BaseException:
                writer.abort()
                raise

    def _store_all(self, task: Task, image_id: str, source: _Source, targets: list[str],
                   request: ImportRequest, written: list[str]) -> None:
        results = self._each_store(task, image_id, targets, request, written,
                                   lambda store: self._write_to_store(image_id, store, source.path))
        if not results:
            raise InvalidRequest(f"Import of {image_id} failed in every store")
        result = results[-1]
        self.repo.set_status(
            image_id, ImageStatus.IMPORTING, ImageStatus.ACTIVE, size=result.size,
            checksum=result.checksum, os_hash_algo=result.os_hash_algo,
            os_hash_value=result.os_hash_value, virtual_size=source.virtual_size,
            disk_format=source.disk_format, formats=source.decided_by,
        )

    def _each_store(self, task: Task, image_id: str, targets: list[str], request: ImportRequest,
                    written: list[str], put: Callable[[str], T]) -> list[T]:
        """Run ``put`` for every target store, recording progress after each; a failure is
        fatal when ``all_stores_must_succeed``, else the store is listed as failed."""
        results: list[T] = []
        failed: list[str] = []
        for store in targets:
            try:
                results.append(put(store))
                written.append(store)
            except CowshedError as exc:
                if request.all_stores_must_succeed:
                    raise
                log.warning("%s of %s into %s failed: %s", request.method, image_id, store,
                            exc.message)
                failed.append(store)
            self._progress(image_id, targets, written, failed)
            self._save_task(task)
        return results

    def _write_to_store(self, image_id: str, store: str, path: Path) -> IngestResult:
        backend = self.deps.stores.get(store)
        size = path.stat().st_size
        writer = backend.open_writer(image_id, size)
        try:
            ingest = Ingest(writer, hash_pool=self.deps.pools.hashing, expected_size=size,
                            size_cap=self.settings.image_size_cap,
                            inspector=None)
            drive_file(path, ingest)
            result = ingest.finish()
            stored = writer.commit()
        except BaseException:
            writer.abort()
            raise
        self._add_location(image_id, store, stored.location)
        return result

    def _add_location(self, image_id: str, store: str, url: str) -> None:
        try:
            self.repo.add_location(image_id, Location(store=store, url=url))
        except Exception:
            with contextlib.suppress(CowshedError):
                self.deps.stores.get(store).delete(image_id)
            raise

    def _copy(self, task: Task, image_id: str, targets: list[str], request: ImportRequest,
              written: list[str]) -> None:
        self._each_store(task, image_id, targets, request, written,
                         lambda store: self._copy_one(image_id, store))

    def _copy_one(self, image_id: str, store: str) -> None:
        image = self.repo.get_image(image_id)
        source = self.deps.stores.get(self.deps.stores.by_weight(list(image.stores))[0])
        backend = self.deps.stores.get(store)
        writer = backend.open_writer(image_id, image.size)
        try:
            ingest = Ingest(writer, hash_pool=self.deps.pools.hashing,
                            expected_size=image.size,
                            size_cap=self.settings.image_size_cap, inspector=None)
            for chunk in source.open_read(image_id):
                ingest.process(chunk)
            result = ingest.finish()
            if image.os_hash_value and result.os_hash_value != image.os_hash_value:
                raise InvalidRequest(f"Copy of {image_id} to {store} does not match its hash")
            stored = writer.commit()
        except BaseException:
            writer.abort()
            raise
        self._add_location(image_id, store, stored.location)

    def _progress(self, image_id: str, targets: list[str], done: list[str],
                  failed: list[str]) -> None:
        left = [s for s in targets if s not in done and s not in failed]
        self.repo.set_property(image_id, IMPORTING_TO, ",".join(left))
        if failed:
            previous = self.repo.get_image(image_id).properties.get(FAILED, "")
            merged = [s for s in previous.split(",") if s] + failed
            self.repo.set_property(image_id, FAILED, ",".join(dict.fromkeys(merged)))

    def _undo(self, image_id: str, request: ImportRequest, targets: list[str],
              written: list[str]) -> None:
        """After a failure: drop what was written (copy-image keeps its copies), record the
        stores not written as failed, and return the image to queued."""
        try:
            if request.method != "copy-image":
                for store in written:
                    # the record first: data left by a failed delete is an orphan the sweep
                    # removes, while a location left behind would point a queued image at it
                    self.repo.remove_location(image_id, store)
                    with contextlib.suppress(CowshedError):
                        self.deps.stores.get(store).delete(image_id)
                self._revert_status(image_id, ImageStatus.IMPORTING)
            pending = [s for s in targets if s not in written]
            self._progress(image_id, targets, targets, pending)
        except NotFound:
            pass  # the image was deleted meanwhile

    def _revert_status(self, image_id: str, current: ImageStatus) -> None:
        self.staging.revert(image_id, current)

    # -- tasks ----------------------------------------------------------------------------

    def _save_task(self, task: Task, **changes: Any) -> Task:
        task = replace(task, updated_at=utcnow(), **changes)
        self.repo.save_task(task)
        return task

    def _finish_task(self, task: Task, status: TaskStatus, message: str,
                     result: Mapping[str, Any] | None = None) -> None:
        self._save_task(task, status=status, message=message,
                        result=dict(result) if result else None,
                        expires_at=utcnow() + TASK_TTL)

    def tasks_for_image(self, ctx: RequestContext, image_id: str) -> list[Task]:
        """The import tasks of an image the caller sees (Glance: the ``get_image`` rule)."""
        self.access.check(ctx, self.repo.get_image(image_id))
        return self.repo.tasks_for_image(image_id)

    def get_task(self, ctx: RequestContext, task_id: str) -> Task:
        """A task, for callers the ``tasks_api_access`` rule lets in (admins by default); a
        task of another project is NotFound for a caller who is not admin."""
        self.deps.policy.enforce("tasks_api_access", ctx, {"project_id": ctx.project_id})
        task = self.repo.get_task(task_id)
        if not ctx.is_admin and task.owner != ctx.project_id:
            raise NotFound(f"Task with identifier {task_id} could not be found")
        return task

