"""Import tasks (Glance's ``api_image_import`` task): pending → processing → success|failure."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class Task:
    """One asynchronous operation on an image."""

    id: str
    image_id: str | None
    type: str
    status: str
    input: dict[str, Any]
    result: dict[str, Any] | None
    message: str
    owner: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None


#: task types Glance knows: ``import`` (the legacy task API), ``api_image_import`` (made by
#: POST /v2/images/{id}/import) and ``location_import`` (made by POST …/locations).
TASK_TYPES = ("import", "api_image_import", "location_import")
#: columns a task list may be sorted on.
TASK_SORT_KEYS = ("created_at", "updated_at", "id", "type", "status")


@dataclass(frozen=True)
class TaskQuery:
    """``GET /v2/tasks``, already validated by the API layer."""

    status: str | None = None
    type: str | None = None
    sort_key: str = "created_at"
    ascending: bool = False
    limit: int = 25
    marker: str | None = None
    #: None lists every project's tasks (an admin); else only this project's.
    owner: str | None = None
    all_projects: bool = True
