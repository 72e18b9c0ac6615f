"""Object keys are namespaced by kind, and the image orphan sweep takes image keys only."""

from __future__ import annotations

import uuid
from pathlib import Path

from cowshed.config import load_settings
from cowshed.domain.keys import ObjectKind, kind_of, volume_id_of, volume_key
from cowshed.services.app import open_services


def test_each_kind_has_its_own_shape() -> None:
    some = str(uuid.uuid4())
    assert kind_of(some) is ObjectKind.IMAGE
    assert kind_of(volume_key(some)) is ObjectKind.VOLUME
    assert volume_id_of(volume_key(some)) == some
    assert kind_of(f"{some}_disk") is ObjectKind.NODE_DISK
    assert kind_of(f"{some}_disk.local") is ObjectKind.NODE_DISK
    assert kind_of(f"{volume_key(some)}.clone-1") is None
    assert volume_id_of(some) is None


def test_image_orphan_sweep_leaves_other_kinds_alone(tmp_path: Path) -> None:
    services = open_services(load_settings(data_dir=tmp_path, environ={}))
    try:
        store = services.deps.stores.default
        orphan, vol, disk = str(uuid.uuid4()), volume_key(str(uuid.uuid4())), f"{uuid.uuid4()}_disk"
        for key in (orphan, vol, disk):
            store.create(key, 4096)
        report = services.recover()
        assert report.orphans_removed == 1
        assert not store.exists(orphan)
        assert store.exists(vol) and store.exists(disk)
    finally:
        services.close()
