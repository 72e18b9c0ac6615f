"""The task API: ``GET /v2/tasks`` (filters, sort, pages) and ``POST /v2/tasks``."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.image.views import isotime, task_view
from cowshed.domain.tasks import TASK_SORT_KEYS, TASK_TYPES, Task, TaskQuery, TaskStatus
from cowshed.errors import InvalidRequest

#: Glance's limit_param_default and api_limit_max.
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def parse_task_query(params: QueryParams) -> TaskQuery:
    """Glance's 400s: limit not a non-negative integer, unknown sort key or direction, a
    status or type outside the enums, a marker that is not a UUID."""
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise InvalidRequest("limit param must be an integer") from None
    if limit < 0:
        raise InvalidRequest("limit param must be positive")
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in TASK_SORT_KEYS:
        raise InvalidRequest(f"Invalid sort key: {sort_key}")
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid sort direction: {sort_dir}")
    status = params.get("status")
    if status is not None and status not in {s.value for s in TaskStatus}:
        raise InvalidRequest(f"Invalid status value: {status}")
    kind = params.get("type")
    if kind is not None and kind not in TASK_TYPES:
        raise InvalidRequest(f"Invalid type value: {kind}")
    marker = params.get("marker")
    if marker is not None:
        try:
            uuid.UUID(marker)
        except ValueError:
            raise InvalidRequest("Invalid marker format") from None
    return TaskQuery(status=status, type=kind, sort_key=sort_key, ascending=sort_dir == "asc",
                     limit=min(limit, MAX_LIMIT), marker=marker)


def _summary(task: Task) -> dict[str, object]:
    """The list's partial view: Glance leaves out input, result and message."""
    out: dict[str, object] = {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "created_at": isotime(task.created_at), "updated_at": isotime(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}
    if task.expires_at is not None:
        out["expires_at"] = isotime(task.expires_at)
    return out


async def list_tasks(request: Request) -> Response:
    query = parse_task_query(request.query_params)
    found = await call(services(request).tasks.list_tasks, request_context(request), query)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, object] = {
        "tasks": [_summary(t) for t in found],
        "first": "/v2/tasks" + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/tasks",
    }
    if found and len(found) == query.limit:
        body["next"] = "/v2/tasks?" + urlencode([*params, ("marker", found[-1].id)])
    return json_response(body)


async def create_task(request: Request) -> Response:
    task = await call(services(request).tasks.create, request_context(request),
                      await read_json(request))
    return json_response(task_view(task), 201, {"Location": f"/v2/tasks/{task.id}"})
