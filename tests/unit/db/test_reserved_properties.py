"""A stale writer must not write back service-owned properties (the import lock)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from cowshed.db.engine import create_engine
from cowshed.db.repository import Repository
from cowshed.domain.clock import utcnow
from cowshed.domain.images import Image, ImageStatus, Visibility


def _image() -> Image:
    now = utcnow()
    return Image(
        id=str(uuid.uuid4()), name="x", status=ImageStatus.QUEUED, visibility=Visibility.SHARED,
        protected=False, os_hidden=False, checksum=None, os_hash_algo=None, os_hash_value=None,
        size=None, virtual_size=None, min_ram=0, min_disk=0, disk_format="raw",
        container_format="bare", owner="admin", created_at=now, updated_at=now,
        properties={"hw_disk_bus": "virtio"},
    )


def test_stale_save_keeps_released_lock_released(tmp_path: Path) -> None:
    repo = Repository(create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    image = _image()
    repo.insert_image(image)
    assert repo.claim_property(image.id, "os_glance_import_task", "task-1")
    stale = repo.get_image(image.id)  # a PATCH reads the image while the import holds the lock
    assert stale.properties["os_glance_import_task"] == "task-1"
    repo.set_property(image.id, "os_glance_import_task", None)  # the import finishes
    edited = replace(stale, properties={**stale.properties, "os_distro": "debian"})
    # a change that writes back what it read earlier (the stale lock) instead of the fresh image
    saved = repo.update_image(image.id, lambda _fresh: edited)
    assert "os_glance_import_task" not in saved.properties
    assert "os_glance_import_task" not in repo.get_image(image.id).properties
    assert saved.properties["os_distro"] == "debian"
    assert saved.properties["hw_disk_bus"] == "virtio"


def test_save_keeps_service_properties_set_meanwhile(tmp_path: Path) -> None:
    repo = Repository(create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    image = _image()
    repo.insert_image(image)
    stale = repo.get_image(image.id)
    repo.set_property(image.id, "os_glance_importing_to_stores", "file")
    repo.update_image(image.id, lambda _fresh: replace(stale, name="renamed"))
    stored = repo.get_image(image.id)
    assert stored.properties["os_glance_importing_to_stores"] == "file"
    assert stored.name == "renamed"
