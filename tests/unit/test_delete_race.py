"""Two deletes of one image at once (two processes, or two threads): one deletes it, the other
gets the answer a later delete gets — 404 — not a 409 from losing the compare-and-set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cowshed.config import load_settings
from cowshed.domain.context import local_admin
from cowshed.errors import NotFound
from cowshed.services.app import Services, open_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(load_settings(data_dir=tmp_path, environ={}))
    try:
        yield svc
    finally:
        svc.close()


def test_the_delete_that_loses_the_race_is_not_found(services: Services) -> None:
    ctx = local_admin("p1")
    image = services.images.create(ctx, {"disk_format": "raw", "container_format": "bare"})
    repo = services.deps.repo
    original = repo.set_status
    raced: list[bool] = []

    def set_status(image_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not raced:  # the other delete marks the image first, between our read and our CAS
            raced.append(True)
            original(image_id, *args, **kwargs)
        return original(image_id, *args, **kwargs)

    repo.set_status = set_status  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        services.images.delete(ctx, image.id)
