"""SQL for the task aggregate (import tasks and their results)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa

from cowshed.db.schema import tasks
from cowshed.domain.clock import utcnow
from cowshed.domain.tasks import Task, TaskQuery
from cowshed.errors import InvalidRequest, NotFound


class TaskRepository:
    """Every query on the tasks table."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def insert_task(self, task: Task) -> None:
        with self.engine.begin() as conn:
            conn.execute(tasks.insert().values(**_task_row(task)))

    def save_task(self, task: Task) -> None:
        row = _task_row(task)
        with self.engine.begin() as conn:
            conn.execute(tasks.update().where(tasks.c.id == task.id).values(**row))

    def delete_task(self, task_id: str) -> None:
        """Remove a task that never started (its import request was refused)."""
        with self.engine.begin() as conn:
            conn.execute(tasks.delete().where(tasks.c.id == task_id))

    def touch_task(self, task_id: str) -> None:
        """Move only ``updated_at`` to now: a running task's heartbeat."""
        with self.engine.begin() as conn:
            conn.execute(tasks.update().where(tasks.c.id == task_id).values(updated_at=utcnow()))

    def get_task(self, task_id: str) -> Task:
        with self.engine.connect() as conn:
            row = conn.execute(tasks.select().where(tasks.c.id == task_id, _unexpired())
                               ).mappings().first()
        if row is None:
            raise NotFound(f"Task with identifier {task_id} could not be found")
        return _to_task(row)

    def tasks_for_image(self, image_id: str) -> list[Task]:
        with self.engine.connect() as conn:
            rows = conn.execute(tasks.select().where(tasks.c.image_id == image_id, _unexpired())
                                .order_by(tasks.c.created_at)).mappings().all()
        return [_to_task(r) for r in rows]

    def list_tasks(self, q: TaskQuery) -> list[Task]:
        """A page of tasks in (sort column, id) order; an unknown marker is InvalidRequest."""
        query = tasks.select()
        if not q.all_projects:
            query = query.where(tasks.c.owner == q.owner)
        if q.status is not None:
            query = query.where(tasks.c.status == q.status)
        if q.type is not None:
            query = query.where(tasks.c.type == q.type)
        column = tasks.c[q.sort_key]
        with self.engine.connect() as conn:
            if q.marker is not None:
                mark = conn.execute(tasks.select().where(tasks.c.id == q.marker)
                                    ).mappings().first()
                if mark is None:
                    raise InvalidRequest(f"Invalid marker: task {q.marker} could not be found")
                value, ident = mark[q.sort_key], mark["id"]
                if q.ascending:
                    query = query.where(sa.or_(column > value,
                                               sa.and_(column == value, tasks.c.id > ident)))
                else:
                    query = query.where(sa.or_(column < value,
                                               sa.and_(column == value, tasks.c.id < ident)))
            order = ([column.asc(), tasks.c.id.asc()] if q.ascending
                     else [column.desc(), tasks.c.id.desc()])
            rows = conn.execute(query.order_by(*order).limit(q.limit)).mappings().all()
        return [_to_task(r) for r in rows]

    def tasks_in_status(self, statuses: Iterable[str]) -> list[Task]:
        with self.engine.connect() as conn:
            rows = conn.execute(tasks.select().where(tasks.c.status.in_(list(statuses))))
            return [_to_task(r) for r in rows.mappings().all()]


    def purge_expired_tasks(self) -> int:
        """Delete the tasks whose ``expires_at`` has passed (they are already invisible)."""
        with self.engine.begin() as conn:
            result = conn.execute(tasks.delete().where(tasks.c.expires_at <= utcnow()))
        return int(result.rowcount or 0)


def _unexpired() -> sa.ColumnElement[bool]:
    """Glance hides a task once it expires (and purges it later)."""
    return sa.or_(tasks.c.expires_at.is_(None), tasks.c.expires_at > utcnow())


def _task_row(task: Task) -> dict[str, object]:
    return {
        "id": task.id, "image_id": task.image_id, "type": task.type, "status": task.status,
        "input": json.dumps(task.input), "result": json.dumps(task.result),
        "message": task.message, "owner": task.owner, "created_at": task.created_at,
        "updated_at": task.updated_at, "expires_at": task.expires_at,
    }


def _to_task(row: sa.RowMapping) -> Task:
    return Task(
        id=row["id"], image_id=row["image_id"], type=row["type"], status=row["status"],
        input=json.loads(row["input"]), result=json.loads(row["result"] or "null"),
        message=row["message"], owner=row["owner"], created_at=row["created_at"],
        updated_at=row["updated_at"], expires_at=row["expires_at"],
    )
