"""Start-up reconciliation: after a crash, no image stays stuck and no orphan data remains."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace

from cowshed.domain.clock import utcnow
from cowshed.domain.images import ImageStatus
from cowshed.domain.keys import ObjectKind, kind_of
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.errors import CowshedError, InUse, InvalidStatusTransition, NotFound
from cowshed.services.context import Deps
from cowshed.services.images.imports import FAILED, IMPORTING_TO, LOCK, TASK_TTL
from cowshed.services.images.service import ImageService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryReport:
    images_requeued: int
    partial_writes_removed: int
    orphans_removed: int
    tasks_failed: int
    #: filled in by the volume service's own recovery (``services/volumes/recovery.py``).
    volumes_recovered: int = 0
    snapshots_recovered: int = 0
    volume_orphans_removed: int = 0


def recover(deps: Deps) -> RecoveryReport:
    """Reconcile what dead owners left: stuck images back to queued, interrupted tasks failed,
    partial and orphan data removed. Safe while other processes work on the same database and
    stores: whatever a live owner holds a lease on (services/ownership.py) is left alone, and
    partial writes are removed only when their writer is gone (flock, RBD watchers).

    Runs at start-up and, in a server, on every maintenance sweep.
    """
    _finish_deletes(deps)
    requeued = _requeue_stuck(deps)
    failed = _fail_tasks(deps)
    partial = sum(backend.cleanup_incomplete() for backend in deps.stores)
    partial += _clean_staging(deps)
    orphans = sum(_remove_orphans(deps, name) for name in deps.stores.names())
    deps.repo.purge_expired_tasks()
    for owner_id in deps.owners.dead_owners():  # reconciled above: their records may go
        deps.repo.forget_owner(owner_id)
    report = RecoveryReport(requeued, partial, orphans, failed)
    if requeued or partial or orphans or failed:
        log.info("recovery: %s", report)
    return report


def _unleased(deps: Deps, image_ids: list[str]) -> list[str]:
    """The images among ``image_ids`` on which no live owner holds a lease."""
    held = deps.owners.held(f"image:{i}" for i in image_ids)
    return [i for i in image_ids if f"image:{i}" not in held]


def _requeue_stuck(deps: Deps) -> int:
    """Images left saving, importing or uploading by a dead owner go back to queued.

    Each image is read *before* the leases are: a live process leases an image before it
    moves it to another status, so an image that changed after our read (a finished stage
    turning ``importing``) is either seen leased or fails the compare-and-set from the status
    read, instead of being requeued under its new owner's feet.
    """
    requeued = 0
    stuck = (ImageStatus.SAVING, ImageStatus.IMPORTING, ImageStatus.UPLOADING)
    images = []
    for image_id in deps.repo.ids_in_status(stuck):
        with contextlib.suppress(NotFound):
            image = deps.repo.get_image(image_id)
            if image.status in stuck:  # not one that became active since it was listed
                images.append(image)
    unleased = set(_unleased(deps, [image.id for image in images]))
    for image in images:
        if image.id not in unleased:
            continue
        staged = deps.settings.staging_dir / image.id
        if image.status == ImageStatus.UPLOADING and staged.is_file():
            continue  # staging finished before the crash: the data waits for its import
        try:
            deps.repo.set_status(image.id, image.status, ImageStatus.QUEUED)
            requeued += 1
        except (NotFound, InvalidStatusTransition):
            continue
        # Locations recorded before the crash (between add_location and the move to active)
        # belong to no finished write: forget them, and _remove_orphans drops their data.
        for location in image.locations:
            deps.repo.remove_location(image.id, location.store)
    return requeued


def _finish_deletes(deps: Deps) -> None:
    """Complete deletes a dead owner interrupted: their rows are still marked ``deleted``."""
    images = ImageService(deps)
    for image_id in _unleased(deps, deps.repo.ids_in_status([ImageStatus.DELETED])):
        try:
            images.finish_delete(image_id)
        except InUse as exc:  # clones appeared meanwhile: the image lives on (Glance: 409)
            log.warning("delete of %s not finished: %s", image_id, exc.message)
            with contextlib.suppress(NotFound, InvalidStatusTransition):
                deps.repo.set_status(image_id, ImageStatus.DELETED, ImageStatus.ACTIVE)
        except NotFound:
            continue


def _dead_tasks(deps: Deps) -> list[Task]:
    """Pending or processing tasks no live owner holds (a task always has its lease before
    its row exists, so one without any lease was left by an older version)."""
    tasks = deps.repo.tasks_in_status([TaskStatus.PENDING, TaskStatus.PROCESSING])
    held = deps.owners.held(f"task:{t.id}" for t in tasks)
    dead = []
    # read again after the leases: a live task saves its end *before* it drops its lease, so
    # one still open now, whose lease was gone, has no live owner (not one that just ended)
    for task in (t for t in tasks if f"task:{t.id}" not in held):
        with contextlib.suppress(NotFound):
            fresh = deps.repo.get_task(task.id)
            if fresh.status in (TaskStatus.PENDING, TaskStatus.PROCESSING):
                dead.append(fresh)
    return dead


def _fail_tasks(deps: Deps) -> int:
    """Fail every task a dead owner left and end the imports they ran.

    Like a failed import (``ImportService._undo``): the lock goes, and the stores the import
    had still to write move from ``os_glance_importing_to_stores`` to
    ``os_glance_failed_import``, so a client polling those properties sees a failure, not
    an import that finished. Runs after the requeue, so locations are final here.
    """
    now = utcnow()
    interrupted = _dead_tasks(deps)
    for task in interrupted:
        deps.repo.save_task(replace(task, status=TaskStatus.FAILURE, updated_at=now,
                                    expires_at=now + TASK_TTL,
                                    message="Interrupted by a restart of the service"))
    # also images whose lock or progress outlived their task
    images = {t.image_id for t in interrupted if t.image_id}
    images.update(deps.repo.ids_with_property(LOCK))
    images.update(deps.repo.ids_with_property(IMPORTING_TO))
    for image_id in _unleased(deps, sorted(images)):
        with contextlib.suppress(NotFound):
            _end_import(deps, image_id)
    return len(interrupted)


def _end_import(deps: Deps, image_id: str) -> None:
    image = deps.repo.get_image(image_id)
    props = image.properties
    holder = props.get(LOCK)
    if holder is not None and _task_running(deps, holder):
        return  # a live import of another owner: its lock and progress stay
    left = [s for s in props.get(IMPORTING_TO, "").split(",") if s and s not in image.stores]
    if left:
        failed = [s for s in props.get(FAILED, "").split(",") if s] + left
        deps.repo.set_property(image_id, FAILED, ",".join(dict.fromkeys(failed)))
    if props.get(IMPORTING_TO):
        deps.repo.set_property(image_id, IMPORTING_TO, "")
    if holder is not None:
        deps.repo.release_property(image_id, LOCK, holder)


def _task_running(deps: Deps, task_id: str) -> bool:
    try:
        task = deps.repo.get_task(task_id)
    except NotFound:
        return False
    if task.status not in (TaskStatus.PENDING, TaskStatus.PROCESSING):
        return False
    return f"task:{task_id}" in deps.owners.held([f"task:{task_id}"])


def _clean_staging(deps: Deps) -> int:
    """Remove partial staging writes of dead writers and staged data nobody waits for."""
    removed = deps.staging.cleanup_incomplete()
    keys = list(deps.staging.keys())  # listed first: what appears later is not judged
    # leases before statuses: an import drops its lease only once the status is final
    # (``uploading`` again after a failure keeps its staged data for a retry)
    held = deps.owners.held(f"image:{k}" for k in keys)
    waiting = set(deps.repo.ids_in_status([ImageStatus.UPLOADING]))
    for key in keys:
        if key not in waiting and f"image:{key}" not in held:
            with contextlib.suppress(NotFound):
                deps.staging.delete(key)
                removed += 1
    return removed


def _remove_orphans(deps: Deps, store: str) -> int:
    """Delete image objects no location names and no live owner is writing.

    The objects are listed *before* the leases and then the locations are read: a write that
    commits after the listing is not in it, and one listed was leased before its object
    existed and keeps the lease until its location is recorded.
    """
    backend = deps.stores.get(store)
    # only image keys: a volume's or a node disk's object in the same store is never ours
    listed = list(backend.keys())
    keys = [k for k in listed if kind_of(k) is ObjectKind.IMAGE]
    # leases before locations: a writer records its location before it drops its lease, so
    # one whose lease is gone here has its location in what we read next
    held = deps.owners.held(f"image:{k}" for k in keys)
    located = deps.repo.located_keys(store)
    removed = 0
    for key in keys:
        if key in located or f"image:{key}" in held:
            continue
        try:
            backend.delete(key)
            removed += 1
        except CowshedError as exc:
            log.warning("orphan %s in store %s kept: %s", key, store, exc.message)
    return removed
