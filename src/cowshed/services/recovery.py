"""Start-up reconciliation: after a crash, no image stays stuck and no orphan data remains."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace

from cowshed.domain.clock import utcnow
from cowshed.domain.images import ImageStatus
from cowshed.domain.keys import ObjectKind, kind_of
from cowshed.domain.tasks import TaskStatus
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
    """Return stuck images to queued, fail interrupted tasks, remove partial and orphan data.

    Assumes no other process is uploading into the same stores right now (one API process per
    deployment on the embedded default).
    """
    _finish_deletes(deps)
    requeued = 0
    for image_id in deps.repo.ids_in_status([ImageStatus.SAVING, ImageStatus.IMPORTING,
                                             ImageStatus.UPLOADING]):
        image = deps.repo.get_image(image_id)
        staged = deps.settings.staging_dir / image_id
        if image.status == ImageStatus.UPLOADING and staged.is_file():
            continue  # staging finished before the crash: the data waits for its import
        try:
            deps.repo.set_status(image_id, image.status, ImageStatus.QUEUED)
            requeued += 1
        except (NotFound, InvalidStatusTransition):
            continue
        # Locations recorded before the crash (between add_location and the move to active)
        # belong to no finished write: forget them, and _remove_orphans drops their data.
        for location in image.locations:
            deps.repo.remove_location(image_id, location.store)
    failed = _fail_tasks(deps)
    partial = sum(backend.cleanup_incomplete() for backend in deps.stores)
    partial += _clean_staging(deps)
    orphans = sum(_remove_orphans(deps, name) for name in deps.stores.names())
    deps.repo.purge_expired_tasks()
    report = RecoveryReport(requeued, partial, orphans, failed)
    log.info("recovery: %s", report)
    return report


def _finish_deletes(deps: Deps) -> None:
    """Complete deletes a crash interrupted: their rows are still marked ``deleted``."""
    images = ImageService(deps)
    for image_id in deps.repo.ids_in_status([ImageStatus.DELETED]):
        try:
            images.finish_delete(image_id)
        except InUse as exc:  # clones appeared meanwhile: the image lives on (Glance: 409)
            log.warning("delete of %s not finished: %s", image_id, exc.message)
            with contextlib.suppress(NotFound, InvalidStatusTransition):
                deps.repo.set_status(image_id, ImageStatus.DELETED, ImageStatus.ACTIVE)


def _fail_tasks(deps: Deps) -> int:
    """Fail every task a crash interrupted and end the imports they ran.

    Like a failed import (``ImportService._undo``): the lock goes, and the stores the import
    had still to write move from ``os_glance_importing_to_stores`` to
    ``os_glance_failed_import``, so a client polling those properties sees a failure, not
    an import that finished. Runs after the requeue, so locations are final here.
    """
    now = utcnow()
    interrupted = deps.repo.tasks_in_status([TaskStatus.PENDING, TaskStatus.PROCESSING])
    for task in interrupted:
        deps.repo.save_task(replace(task, status=TaskStatus.FAILURE, updated_at=now,
                                    expires_at=now + TASK_TTL,
                                    message="Interrupted by a restart of the service"))
    # also images whose lock or progress outlived their task (nothing runs at start-up)
    images = {t.image_id for t in interrupted if t.image_id}
    images.update(deps.repo.ids_with_property(LOCK))
    images.update(deps.repo.ids_with_property(IMPORTING_TO))
    for image_id in sorted(images):
        with contextlib.suppress(NotFound):
            _end_import(deps, image_id)
    return len(interrupted)


def _end_import(deps: Deps, image_id: str) -> None:
    image = deps.repo.get_image(image_id)
    props = image.properties
    left = [s for s in props.get(IMPORTING_TO, "").split(",") if s and s not in image.stores]
    if left:
        failed = [s for s in props.get(FAILED, "").split(",") if s] + left
        deps.repo.set_property(image_id, FAILED, ",".join(dict.fromkeys(failed)))
    if props.get(IMPORTING_TO):
        deps.repo.set_property(image_id, IMPORTING_TO, "")
    if LOCK in props:
        deps.repo.set_property(image_id, LOCK, None)


def _clean_staging(deps: Deps) -> int:
    """Remove partial staging writes and staged data no image is waiting for."""
    removed = deps.staging.cleanup_incomplete()
    waiting = set(deps.repo.ids_in_status([ImageStatus.UPLOADING]))
    for key in list(deps.staging.keys()):
        if key not in waiting:
            deps.staging.delete(key)
            removed += 1
    return removed


def _remove_orphans(deps: Deps, store: str) -> int:
    backend = deps.stores.get(store)
    located = deps.repo.located_keys(store)
    removed = 0
    for key in list(backend.keys()):
        # only image keys: a volume's or a node disk's object in the same store is never ours
        if kind_of(key) is not ObjectKind.IMAGE or key in located:
            continue
        try:
            backend.delete(key)
            removed += 1
        except CowshedError as exc:
            log.warning("orphan %s in store %s kept: %s", key, store, exc.message)
    return removed
