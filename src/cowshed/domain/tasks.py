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
