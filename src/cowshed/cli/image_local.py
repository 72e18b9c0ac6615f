"""The library door of ``cowshed image …``: :class:`LocalImages` on a data dir (no server).

Imported only when a command opens a data dir (``image_session``), so ``--help`` and the HTTP
door never load the library.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cowshed.cli.image_ops import Advance, parse_sort
from cowshed.cli.output import Record
from cowshed.domain.images import Image
from cowshed.domain.members import ImageMember
from cowshed.domain.query import Filter, ImageQuery
from cowshed.domain.tasks import Task, TaskQuery
from cowshed.errors import NotFound
from cowshed.services.app import Services
from cowshed.services.images.files import read_blocks, upload_file
from cowshed.services.images.members import parse_status
from cowshed.services.images.service import PatchOp
from cowshed.services.ingest import BLOCK_SIZE


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_record(image: Image) -> Record:
    """The record of an image (``openstack image show -f json`` layout, properties nested)."""
    return {
        "id": image.id, "name": image.name, "status": str(image.status),
        "visibility": str(image.visibility), "protected": image.protected,
        "os_hidden": image.os_hidden, "disk_format": image.disk_format,
        "container_format": image.container_format, "size": image.size,
        "virtual_size": image.virtual_size, "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
        "min_disk": image.min_disk, "min_ram": image.min_ram, "owner": image.owner,
        "created_at": _time(image.created_at), "updated_at": _time(image.updated_at),
        "tags": list(image.tags), "properties": dict(image.properties),
        "stores": list(image.stores),
    }


def task_record(task: Task) -> Record:
    return {
        "id": task.id, "type": task.type, "status": str(task.status), "image_id": task.image_id,
        "owner": task.owner, "message": task.message, "input": task.input,
        "result": task.result, "created_at": _time(task.created_at),
        "updated_at": _time(task.updated_at), "expires_at": _time(task.expires_at),
    }


def member_record(member: ImageMember) -> Record:
    return {"image_id": member.image_id, "member_id": member.member_id,
            "status": str(member.status), "created_at": _time(member.created_at),
            "updated_at": _time(member.updated_at)}


class LocalImages:
    """The library on a data dir, as the deployment's admin (whoever holds its files)."""

    def __init__(self, services: Services) -> None:
        self.svc = services
        self.ctx = services.admin_context()
        self.where = f"data dir {services.settings.data_dir}"

    def create(self, body: dict[str, Any]) -> Record:
        return image_record(self.svc.images.create(self.ctx, body))

    def get(self, image_id: str) -> Record:
        return image_record(self.svc.images.get(self.ctx, image_id))

    def list_images(self, filters: dict[str, str], sort: str, limit: int | None) -> list[Record]:
        """Every match (paging through ``api_limit_max`` at a time) up to ``limit``."""
        query_filters = tuple(Filter(k, "eq", v) for k, v in filters.items())
        order = parse_sort(sort)
        page = self.svc.settings.api_limit_max
        found: list[Image] = []
        marker: str | None = None
        while limit is None or len(found) < limit:
            want = page if limit is None else min(page, limit - len(found))
            batch = self.svc.images.list_images(self.ctx, ImageQuery(
                filters=query_filters, sort=order, limit=want, marker=marker))
            found.extend(batch)
            if len(batch) < want:
                break
            marker = batch[-1].id
        return [image_record(i) for i in found]

    def update(self, image_id: str, ops: list[dict[str, Any]]) -> Record:
        parsed = [PatchOp(op["op"], op["path"].lstrip("/"), op.get("value")) for op in ops]
        return image_record(self.svc.images.update(self.ctx, image_id, parsed))

    def delete(self, image_id: str) -> None:
        self.svc.images.delete(self.ctx, image_id)

    def add_tag(self, image_id: str, tag: str) -> None:
        self.svc.images.add_tag(self.ctx, image_id, tag)

    def remove_tag(self, image_id: str, tag: str) -> None:
        self.svc.images.remove_tag(self.ctx, image_id, tag)

    def deactivate(self, image_id: str) -> None:
        self.svc.images.deactivate(self.ctx, image_id)

    def reactivate(self, image_id: str) -> None:
        self.svc.images.reactivate(self.ctx, image_id)

    def upload(self, image_id: str, path: Path, store: str | None, advance: Advance) -> Record:
        return image_record(upload_file(self.ctx, self.svc.data, image_id, path, store,
                                        advance))

    def stage(self, image_id: str, path: Path, advance: Advance) -> None:
        import asyncio  # only staging runs the library's async side

        size = path.stat().st_size
        asyncio.run(self.svc.imports.stage(self.ctx, image_id, read_blocks(path, progress=advance),
                                           size))

    def start_import(self, image_id: str, body: dict[str, Any]) -> None:
        self.svc.imports.start(self.ctx, image_id, body)

    def read(self, image_id: str, offset: int) -> Iterator[bytes]:
        plan = self.svc.data.plan_download(self.ctx, image_id, (offset, None), [])
        if plan is None:
            raise NotFound(f"Image {image_id} has no data")
        return plan.blocks(BLOCK_SIZE)

    def stores(self) -> list[Record]:
        stores = self.svc.deps.stores
        return [{"id": name, "description": stores.spec(name).description or name,
                 "default": name == stores.default_name, "type": stores.get(name).kind,
                 "weight": stores.spec(name).weight} for name in stores.names()]

    def tasks(self, image_id: str) -> list[Record]:
        return [task_record(t) for t in self.svc.imports.tasks_for_image(self.ctx, image_id)]

    def all_tasks(self) -> list[Record]:
        """Every task, newest first, paging ``api_limit_max`` at a time."""
        found: list[Task] = []
        page = self.svc.settings.api_limit_max
        while True:
            marker = found[-1].id if found else None
            batch = self.svc.tasks.list_tasks(self.ctx, TaskQuery(limit=page, marker=marker))
            found.extend(batch)
            if len(batch) < page:
                return [task_record(t) for t in found]

    def task(self, task_id: str) -> Record:
        return task_record(self.svc.imports.get_task(self.ctx, task_id))

    def members(self, image_id: str) -> list[Record]:
        return [member_record(m) for m in self.svc.members.list_members(self.ctx, image_id)]

    def add_member(self, image_id: str, member_id: str) -> Record:
        return member_record(self.svc.members.add_member(self.ctx, image_id, member_id))

    def set_member(self, image_id: str, member_id: str, status: str) -> Record:
        return member_record(self.svc.members.set_status(self.ctx, image_id, member_id,
                                                         parse_status(status)))

    def remove_member(self, image_id: str, member_id: str) -> None:
        self.svc.members.remove_member(self.ctx, image_id, member_id)

    def close(self) -> None:
        """Closing waits for imports this process started: they run in its threads."""
        self.svc.close()
