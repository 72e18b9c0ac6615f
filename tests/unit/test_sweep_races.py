"""A sweep racing a live process's next step: what changes between the sweep's reads is never
taken for a dead owner's leftover.

The race is made exact by letting the live process act right after the sweep asked who holds
leases (a wrapper around ``Ownership.held``, the one injected fault); everything else is the
real recovery on a real SQLite database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cowshed.config import load_settings
from cowshed.domain.clock import utcnow
from cowshed.domain.context import local_admin
from cowshed.domain.images import ImageStatus, Location
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.services.app import Services, open_services
from cowshed.services.recovery import recover


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(load_settings(data_dir=tmp_path, environ={}))
    try:
        yield svc
    finally:
        svc.close()


def _after_lease_check(services: Services, resource: str, step: Callable[[], None]) -> None:
    """Run ``step`` (the live process) right after the sweep first asked about ``resource``."""
    owners = services.deps.owners
    original = owners.held
    done: list[bool] = []

    def held(resources):  # type: ignore[no-untyped-def]
        resources = list(resources)
        answer = original(resources)
        if resource in resources and not done:
            done.append(True)
            step()
        return answer

    owners.held = held  # type: ignore[method-assign]


def test_a_stage_turning_into_an_import_is_not_requeued(services: Services) -> None:
    deps = services.deps
    image = services.images.create(local_admin("p1"), {"disk_format": "raw",
                                                        "container_format": "bare"})
    # a finished stage: uploading, its data staged, no lease (the stage dropped it)
    deps.repo.set_status(image.id, ImageStatus.QUEUED, ImageStatus.UPLOADING)
    deps.settings.staging_dir.mkdir(parents=True, exist_ok=True)
    (deps.settings.staging_dir / image.id).write_bytes(b"staged")

    def import_starts() -> None:  # the live process's import: lease first, then the status
        deps.owners.lease(f"image:{image.id}")
        deps.repo.set_status(image.id, ImageStatus.UPLOADING, ImageStatus.IMPORTING)

    _after_lease_check(services, f"image:{image.id}", import_starts)
    recover(deps)
    assert deps.repo.get_image(image.id).status == ImageStatus.IMPORTING


def test_a_task_that_just_ended_is_not_failed(services: Services) -> None:
    deps = services.deps
    now = utcnow()
    task = Task(id="t1", image_id=None, type="api_image_import", status=TaskStatus.PROCESSING,
                input={}, result=None, message="", owner="p1", created_at=now,
                updated_at=now, expires_at=None)
    lease = deps.owners.lease("task:t1")
    deps.repo.insert_task(task)

    def task_ends() -> None:  # the live worker: its end saved first, then its lease dropped
        deps.repo.save_task(dataclasses.replace(task, status=TaskStatus.SUCCESS,
                                                message="done"))
        lease.release()

    # the task is listed as processing; it ends before the sweep asks about its lease
    owners = deps.owners
    original = owners.held

    def held(resources):  # type: ignore[no-untyped-def]
        resources = list(resources)
        if "task:t1" in resources and lease._held:
            task_ends()
        return original(resources)

    owners.held = held  # type: ignore[method-assign]
    recover(deps)
    saved = deps.repo.get_task("t1")
    assert (saved.status, saved.message) == (TaskStatus.SUCCESS, "done")


def _finish_upload_after(services: Services, method: str, image_id: str) -> None:
    """The live upload of ``image_id`` completes right after the sweep's next call of the
    repository's ``method`` (record the location, activate, drop the lease — as data.py)."""
    deps = services.deps
    store = deps.stores.default
    lease = deps.owners.lease(f"image:{image_id}")
    deps.repo.set_status(image_id, ImageStatus.QUEUED, ImageStatus.SAVING)
    store.create(image_id, 4096)  # the committed object
    original = getattr(deps.repo, method)
    done: list[bool] = []

    def hooked(*args, **kwargs):  # type: ignore[no-untyped-def]
        answer = original(*args, **kwargs)
        # ids_in_status: once it listed our image as stuck; located_keys: at its first read
        if not done and (method != "ids_in_status" or image_id in answer):
            done.append(True)
            deps.repo.add_location(image_id, Location(store=store.name, url=f"file://{image_id}"))
            deps.repo.set_status(image_id, ImageStatus.SAVING, ImageStatus.ACTIVE, size=4096)
            lease.release()
        return answer

    setattr(deps.repo, method, hooked)


@pytest.mark.parametrize("method", ["ids_in_status", "located_keys"])
def test_an_upload_that_ends_during_a_sweep_keeps_its_data(services: Services,
                                                           method: str) -> None:
    deps = services.deps
    image = services.images.create(local_admin("p1"), {"disk_format": "raw",
                                                        "container_format": "bare"})
    _finish_upload_after(services, method, image.id)
    recover(deps)
    after = deps.repo.get_image(image.id)
    assert after.status == ImageStatus.ACTIVE and [loc.store for loc in after.locations] == \
        [deps.stores.default.name]
    assert deps.stores.default.exists(image.id)
