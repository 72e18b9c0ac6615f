"""Import under injected faults: nothing is lost in a dropped future, a refused request changes
nothing, and a failed undo never leaves a location on a queued image.

Faults are injected by wrapping one repository or store method of the running app (the rest is
the real thing: SQLite or PostgreSQL, the file store, qemu-img).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cowshed.config import Settings
from cowshed.domain.clock import utcnow
from cowshed.domain.images import ImageStatus
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.errors import BackendUnavailable
from tests.api._import_fixtures import Api, running_api

GLANCE_DIRECT = {"method": {"name": "glance-direct"}}
LOCK = "os_glance_import_task"
DATA = b"\x01" * 65536


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(Settings(data_dir=tmp_path / "data")) as running:
        yield running


def _staged(api: Api) -> str:
    image_id = api.create(name="faulty", disk_format="raw", container_format="bare")["id"]
    assert api.stage(image_id, DATA).status_code == 204
    return image_id


def _fail_once(obj: object, name: str, when: Callable[..., bool] = lambda *a, **k: True,
               error: Exception | None = None) -> list[int]:
    """Make ``obj.name`` raise once, on the first call for which ``when(*args)`` holds."""
    real = getattr(obj, name)
    hits: list[int] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not hits and when(*args, **kwargs):
            hits.append(1)
            raise error or sa.exc.OperationalError("injected", {}, Exception("database gone"))
        return real(*args, **kwargs)

    setattr(obj, name, wrapped)
    return hits


def _wait_terminal(api: Api, image_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = api.tasks(image_id)
        if tasks and tasks[-1]["status"] in ("success", "failure"):
            return tasks[-1]
        assert time.monotonic() < deadline, f"task stuck: {tasks}"
        time.sleep(0.02)


def test_a_database_error_as_the_worker_starts_fails_the_task_and_frees_the_lock(api: Api) -> None:
    image_id = _staged(api)
    repo = api.svc.deps.repo
    hits = _fail_once(repo, "save_task", lambda task: task.status == TaskStatus.PROCESSING)
    assert api.import_(image_id, GLANCE_DIRECT).status_code == 202
    task = _wait_terminal(api, image_id)
    assert hits, "the fault was not injected"
    assert task["status"] == "failure"
    image = api.show(image_id)
    assert image["status"] == "queued"
    assert LOCK not in image
    assert image["os_glance_importing_to_stores"] == ""
    assert image["os_glance_failed_import"] == "file"


def test_a_database_error_while_releasing_the_lock_is_retried(api: Api) -> None:
    image_id = _staged(api)
    repo = api.svc.deps.repo
    hits = _fail_once(repo, "release_property", lambda image, name, value: name == LOCK)
    assert api.import_(image_id, GLANCE_DIRECT).status_code == 202
    task = _wait_terminal(api, image_id)
    assert hits, "the fault was not injected"
    assert task["status"] == "success", task["message"]
    image = api.show(image_id)
    assert image["status"] == "active"
    assert LOCK not in image


def test_a_refused_import_changes_nothing(api: Api) -> None:
    """The import that lost a race (the image moved on after the pre-checks) is refused with
    409 and leaves the image's properties, status and task list as they were."""
    image_id = _staged(api)
    repo = api.svc.deps.repo
    repo.set_property(image_id, "os_glance_failed_import", "earlier")

    def racing_request_first(*args: Any, **kwargs: Any) -> bool:
        # another request activates the image between our checks and our start
        repo.set_status(image_id, ImageStatus.UPLOADING, ImageStatus.ACTIVE)
        return False

    _fail_once(repo, "claim_property", racing_request_first)
    before = api.show(image_id)
    r = api.import_(image_id, GLANCE_DIRECT)
    assert r.status_code == 409, r.text
    after = api.show(image_id)
    changed = {k for k in set(before) | set(after)
               if before.get(k) != after.get(k) and k not in ("status", "updated_at")}
    assert changed == set(), {k: (before.get(k), after.get(k)) for k in changed}
    assert after["status"] == "active"  # the racing request's doing, not ours
    assert api.tasks(image_id) == []


def test_an_import_refused_for_the_lock_leaves_no_task(api: Api) -> None:
    image_id = _staged(api)
    repo = api.svc.deps.repo
    now = utcnow()
    holder = Task(id="running-elsewhere", image_id=image_id, type="api_image_import",
                  status=TaskStatus.PROCESSING, input={}, result=None, message="",
                  owner="admin", created_at=now, updated_at=now, expires_at=None)
    repo.insert_task(holder)
    assert repo.claim_property(image_id, LOCK, holder.id)
    r = api.import_(image_id, GLANCE_DIRECT)
    assert r.status_code == 409, r.text
    assert [t["id"] for t in api.tasks(image_id)] == [holder.id]
    assert api.show(image_id)[LOCK] == holder.id


def test_a_failed_undo_leaves_no_location_on_the_queued_image(api: Api) -> None:
    image_id = _staged(api)
    repo = api.svc.deps.repo
    store = api.svc.deps.stores.get("file")
    # the import writes its data, then cannot activate the image, then cannot delete the data
    _fail_once(repo, "set_status",
               lambda image, expected, new, **kw: new == ImageStatus.ACTIVE,
               BackendUnavailable("database went away"))
    _fail_once(store, "delete", error=BackendUnavailable("store went away"))
    assert api.import_(image_id, GLANCE_DIRECT).status_code == 202
    task = _wait_terminal(api, image_id)
    assert task["status"] == "failure"
    image = repo.get_image(image_id)
    assert image.status == ImageStatus.QUEUED
    assert image.locations == ()
    # the data left behind is an orphan: recovery's sweep takes it
    assert store.exists(image_id)
    api.svc.recover()
    assert not store.exists(image_id)
