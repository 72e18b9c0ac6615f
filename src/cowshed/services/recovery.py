"""Start-up reconciliation: after a crash, no image stays stuck and no orphan data remains."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass

from cowshed.domain.images import ImageStatus
from cowshed.domain.tasks import TaskStatus
from cowshed.errors import CowshedError, InUse, InvalidStatusTransition, NotFound
from cowshed.services.context import Deps
from cowshed.services.images import ImageService

log = logging.getLogger(__name__)
_IMAGE_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class RecoveryReport:
    images_requeued: int
    partial_writes_removed: int
    orphans_removed: int
    tasks_failed: int


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
    from dataclasses import replace

    from cowshed.db.repository import utcnow

    count = 0
    for task in deps.repo.tasks_in_status([TaskStatus.PENDING, TaskStatus.PROCESSING]):
        deps.repo.save_task(replace(task, status=TaskStatus.FAILURE, updated_at=utcnow(),
                                    message="Interrupted by a restart of the service"))
        if task.image_id:
            for prop in ("os_glance_import_task", "os_glance_importing_to_stores"):
                try:
                    deps.repo.set_property(task.image_id, prop, None)
                except NotFound:
                    break
        count += 1
    return count


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
        if not _IMAGE_KEY.match(key) or key in located:
            continue
        try:
            backend.delete(key)
            removed += 1
        except CowshedError as exc:
            log.warning("orphan %s in store %s kept: %s", key, store, exc.message)
    return removed
