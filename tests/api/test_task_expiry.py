"""Expired tasks disappear (Glance hides them) and the maintenance sweep purges them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from cowshed.config import Settings
from cowshed.db.schema import tasks
from cowshed.domain.clock import utcnow
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.services.maintenance import sweep
from tests.api._import_fixtures import running_api


def _task(task_id: str, image_id: str, expires_in: timedelta) -> Task:
    now = utcnow()
    return Task(id=task_id, image_id=image_id, type="api_image_import",
                status=TaskStatus.SUCCESS, input={}, result=None, message="", owner="admin",
                created_at=now - timedelta(days=3), updated_at=now - timedelta(days=3),
                expires_at=now + expires_in)


def test_expired_tasks_are_hidden_and_purged(tmp_path: Path) -> None:
    with running_api(Settings(data_dir=tmp_path / "data")) as api:
        image_id = api.create(name="t", disk_format="raw", container_format="bare")["id"]
        repo = api.svc.deps.repo
        repo.insert_task(_task("expired", image_id, -timedelta(seconds=1)))
        repo.insert_task(_task("current", image_id, timedelta(hours=1)))
        assert api.client.get("/v2/tasks/expired").status_code == 404
        assert api.client.get("/v2/tasks/current").status_code == 200
        assert [t["id"] for t in api.tasks(image_id)] == ["current"]

        assert sweep(api.svc.deps).tasks_purged == 1
        with repo.engine.connect() as conn:
            left = conn.execute(sa.select(tasks.c.id)).scalars().all()
        assert left == ["current"]
