"""The image record's exact JSON shape (Glance ``ResponseSerializer._format_image``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cowshed.config import Settings
from cowshed.domain.images import Image
from cowshed.domain.tasks import Task
from cowshed.services.stores import StoreSet

_HIDDEN = frozenset({"os_glance_stage_host", "os_glance_hash_op_host"})


def isotime(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(image: Image, settings: Settings, stores: StoreSet) -> dict[str, Any]:
    view: dict[str, Any] = {
        k: v for k, v in image.properties.items() if k not in _HIDDEN
    }
    view.update({
        "id": image.id, "name": image.name, "status": str(image.status),
        "visibility": str(image.visibility), "protected": image.protected,
        "os_hidden": image.os_hidden, "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
        "size": image.size, "virtual_size": image.virtual_size, "min_ram": image.min_ram,
        "min_disk": image.min_disk, "disk_format": image.disk_format,
        "container_format": image.container_format, "owner": image.owner,
        "created_at": isotime(image.created_at), "updated_at": isotime(image.updated_at),
        "tags": list(image.tags), "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file", "schema": "/v2/schemas/image",
    })
    if settings.multistore and image.locations:
        view["stores"] = ",".join(loc.store for loc in image.locations)
    if settings.show_image_direct_url and image.locations:
        best = stores.by_weight(list(image.stores))
        by_store = {loc.store: loc.url for loc in image.locations}
        view["direct_url"] = by_store[best[0]] if best else image.locations[0].url
    if settings.show_multiple_locations:
        view["locations"] = [
            {"url": loc.url, "metadata": {"store": loc.store} if settings.multistore else {}}
            for loc in image.locations
        ]
    return view


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id, "type": task.type, "status": task.status, "input": task.input,
        "result": task.result, "owner": task.owner, "message": task.message,
        "image_id": task.image_id, "created_at": isotime(task.created_at),
        "updated_at": isotime(task.updated_at), "expires_at": isotime(task.expires_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }
