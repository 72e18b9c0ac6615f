"""The task API (``POST /v2/tasks``, ``GET /v2/tasks``): listing every task, and Glance's legacy
``import`` task, which cowshed records but does not run.

Glance deprecated the task API for interoperable import (``POST /v2/images/{id}/import``).
cowshed answers a legacy ``import`` task as Glance answers one it cannot run: the request is
checked (the ``import_from`` URI goes through the same filter as web-download, so a refused
URI is 400 at once, as newer Glance does), the task is recorded and ends in ``failure`` with a
message that names the import API to use instead. Nothing is ever fetched from ``import_from``.
The internal types ``api_image_import`` and ``location_import`` are made by the server only.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from cowshed.db.repository import Repository
from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.tasks import TASK_TYPES, Task, TaskQuery, TaskStatus
from cowshed.errors import Forbidden, InvalidRequest
from cowshed.services.context import Deps
from cowshed.services.images.url_filter import check_uri

#: Glance's ``[task] task_time_to_live``: a finished task is kept this long.
TASK_TIME_TO_LIVE = timedelta(hours=48)
NOT_RUN = ("cowshed does not run the legacy 'import' task; import the data with the "
           "interoperable image import instead (POST /v2/images/{id}/import, method "
           "web-download).")


class TaskService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.repo: Repository = deps.repo

    def _enforce(self, ctx: RequestContext) -> None:
        self.deps.policy.enforce("tasks_api_access", ctx, {"project_id": ctx.project_id})

    def list_tasks(self, ctx: RequestContext, query: TaskQuery) -> list[Task]:
        """A page of tasks: every project's for an admin, else the caller's project's."""
        self._enforce(ctx)
        if not ctx.is_admin:
            query = replace(query, owner=ctx.project_id, all_projects=False)
        return self.repo.list_tasks(query)

    def create(self, ctx: RequestContext, body: Any) -> Task:
        self._enforce(ctx)
        task_type, task_input = _check_body(body)
        if task_type != "import":
            raise Forbidden(f"Tasks of type {task_type} are created by the image service "
                            "itself, not through the task API.")
        _check_import_input(task_input, self.deps)
        now = utcnow()
        task = Task(id=str(uuid.uuid4()), image_id=None, type=task_type,
                    status=TaskStatus.FAILURE, input=task_input, result=None, message=NOT_RUN,
                    owner=ctx.project_id, created_at=now, updated_at=now,
                    expires_at=now + TASK_TIME_TO_LIVE)
        self.repo.insert_task(task)
        return task


def _check_body(body: Any) -> tuple[str, dict[str, Any]]:
    """Glance's task schema: ``type`` and ``input`` required, nothing else writable."""
    if not isinstance(body, dict):
        raise InvalidRequest("Body expected in request: a JSON object")
    for key in ("type", "input"):
        if key not in body:
            raise InvalidRequest(f"Task '{key}' is required")
    if body["type"] not in TASK_TYPES:
        raise InvalidRequest(f"Invalid type value: {body['type']!r}; must be one of "
                             f"{', '.join(TASK_TYPES)}")
    if not isinstance(body["input"], dict):
        raise InvalidRequest("Task 'input' must be a JSON object")
    extra = sorted(set(body) - {"type", "input"})
    if extra:
        raise InvalidRequest(f"Task properties {extra} cannot be set")
    return str(body["type"]), body["input"]


def _check_import_input(task_input: dict[str, Any], deps: Deps) -> None:
    for key, kind in (("import_from", str), ("import_from_format", str),
                      ("image_properties", dict)):
        if not isinstance(task_input.get(key), kind):
            raise InvalidRequest(f"Input to the import task needs '{key}' "
                                 f"({'an object' if kind is dict else 'a string'})")
    check_uri(task_input["import_from"], deps.settings)
