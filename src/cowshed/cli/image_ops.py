"""What ``cowshed image …`` does, behind one interface with two doors: the library and HTTP.

:class:`ImageOps` speaks in records — plain dicts in one layout (the one ``-f json`` prints) —
so every command is written once and runs the same against a data dir
(``image_local.LocalImages``, no server needed) and against a running server
(``image_http.RemoteImages``, chosen with ``--os-image-url`` or the openstack CLI's ``OS_*``
variables). This module imports neither door: each is loaded only when a command opens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from cowshed.cli.output import Record, resolve
from cowshed.domain.query import SORT_KEYS
from cowshed.errors import ExternalToolError

Advance = Callable[[int], None]
#: image fields that are not properties, in the order records show them.
IMAGE_FIELDS = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "disk_format",
    "container_format", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
    "min_disk", "min_ram", "owner", "created_at", "updated_at", "tags", "properties", "stores",
)
#: how long a command waits for an import it started (web-download can take hours).
IMPORT_WAIT = 24 * 3600.0


class ImageOps(Protocol):
    """One deployment's images, as the commands need them; errors are CowshedErrors."""

    where: str

    def create(self, body: dict[str, Any]) -> Record: ...
    def get(self, image_id: str) -> Record: ...
    def list_images(self, filters: dict[str, str], sort: str, limit: int | None) -> list[Record]: ...
    def update(self, image_id: str, ops: list[dict[str, Any]]) -> Record: ...
    def delete(self, image_id: str) -> None: ...
    def add_tag(self, image_id: str, tag: str) -> None: ...
    def remove_tag(self, image_id: str, tag: str) -> None: ...
    def deactivate(self, image_id: str) -> None: ...
    def reactivate(self, image_id: str) -> None: ...
    def upload(self, image_id: str, path: Path, store: str | None, advance: Advance) -> Record: ...
    def stage(self, image_id: str, path: Path, advance: Advance) -> None: ...
    def start_import(self, image_id: str, body: dict[str, Any]) -> None: ...
    def read(self, image_id: str, offset: int) -> Iterator[bytes]: ...
    def stores(self) -> list[Record]: ...
    def tasks(self, image_id: str) -> list[Record]: ...
    def all_tasks(self) -> list[Record]: ...
    def task(self, task_id: str) -> Record: ...
    def members(self, image_id: str) -> list[Record]: ...
    def add_member(self, image_id: str, member_id: str) -> Record: ...
    def set_member(self, image_id: str, member_id: str, status: str) -> Record: ...
    def remove_member(self, image_id: str, member_id: str) -> None: ...
    def close(self) -> None: ...


def find_image(ops: ImageOps, ref: str) -> Record:
    """An image by id, else by unique name, else by unique id prefix (the CLI's addressing)."""
    return resolve(ref, ops.get, lambda: ops.list_images({}, "created_at:desc", None), "image")


def parse_sort(value: str) -> tuple[tuple[str, str], ...]:
    """``name:asc,size`` → ((name, asc), (size, asc)); ValueError naming a bad key."""
    keys: list[tuple[str, str]] = []
    for item in value.split(","):
        key, _, direction = item.strip().partition(":")
        direction = direction or "asc"
        if key not in SORT_KEYS:
            raise ValueError(f"unknown sort key {key!r} (known: {', '.join(sorted(SORT_KEYS))})")
        if direction not in ("asc", "desc"):
            raise ValueError(f"sort direction must be asc or desc, not {direction!r}")
        keys.append((key, direction))
    return tuple(keys)


def wait_for_import(ops: ImageOps, image_id: str, timeout: float = IMPORT_WAIT) -> Record:
    """Poll until the image leaves ``importing``/``uploading`` and no import is running;
    ExternalToolError with the task's message when the import failed."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        record = ops.get(image_id)
        props = record["properties"]
        busy = record["status"] == "importing" or props.get("os_glance_import_task") or \
            props.get("os_glance_importing_to_stores")
        if not busy:
            failed = props.get("os_glance_failed_import")
            if failed:
                raise ExternalToolError(f"import into {failed} failed: "
                                        f"{_last_task_message(ops, image_id)}")
            return record
        if time.monotonic() > deadline:
            raise ExternalToolError(f"import of {image_id} still running after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _last_task_message(ops: ImageOps, image_id: str) -> str:
    tasks = sorted(ops.tasks(image_id), key=lambda t: str(t["updated_at"]))
    return str(tasks[-1]["message"]) if tasks and tasks[-1]["message"] else "see its task"
