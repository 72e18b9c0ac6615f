"""SIGKILL-like crashes at exact points of volume operations, then restart recovery.

A child process runs one operation with one method patched to ``os._exit`` right before or
after it (no ``finally`` runs: a power cut), on the worker thread that does the work. The parent
then opens the deployment again (start-up recovery runs) and checks what the issue demands:
nothing in a transient status, no volume ``available`` with wrong data, no backend object
without a record — and, once everything is deleted, nothing left in the pool or directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cowshed.domain.keys import volume_id_of
from cowshed.domain.volumes import TRANSIENT_SNAPSHOT, TRANSIENT_VOLUME, VolumeStatus
from cowshed.services.app import Services, open_services
from tests.volumes.conftest import CALLER, MiB, VolumeEnv, env_settings

CRASH_EXIT = 77

CHILD = textwrap.dedent('''
    import json, os, sys
    from cowshed.config import load_settings
    from cowshed.domain.volumes import Caller
    from cowshed.services.app import open_services
    from cowshed.services.volumes.lineage import Lineage
    from cowshed.services.volumes.overlay import OverlayStore
    from cowshed.services.volumes.stores import NativeStore

    data_dir, op, point, ids = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    caller = Caller(project_id="p1", user_id="u1")

    def crash(cls, name, before):
        original = getattr(cls, name)
        def wrapper(*args, **kwargs):
            if before:
                os._exit(77)
            result = original(*args, **kwargs)
            os._exit(77)
        setattr(cls, name, wrapper)

    where, _, when = point.partition(":")
    owner, _, method = where.partition(".")
    classes = {"store": (NativeStore, OverlayStore), "lineage": (Lineage,)}[owner]
    for cls in classes:
        crash(cls, method, when == "before")
    svc = open_services(load_settings(data_dir=data_dir))
    vols = svc.volumes
    if op == "clone":
        vols.wait_volume(vols.create(caller, size=None, source_volid=ids["volume"]).id)
    elif op == "from_image":
        vols.wait_volume(vols.create(caller, size=1, image_id=ids["image"]).id)
    elif op == "extend":
        vols.extend(caller, ids["volume"], 2)
        vols.wait_volume(ids["volume"])
    elif op == "delete":
        vols.delete(caller, ids["volume"])
        vols.wait_volume(ids["volume"])
    elif op == "snapshot_delete":
        vols.snapshot_delete(caller, ids["snapshot"])
        vols.wait_snapshot(ids["snapshot"])
    sys.exit(0)  # the crash point was never reached
''')

#: (operation, crash point): every step boundary of the operations the issue names.
POINTS = [
    ("from_image", "store.create_from_file:before"),
    ("from_image", "store.create_from_file:after"),
    ("clone", "store.snapshot:after"),
    ("clone", "store.clone:after"),
    ("clone", "store.flatten:before"),
    ("clone", "store.flatten:after"),
    ("extend", "store.extend:after"),
    ("delete", "lineage.reclaim:before"),
    ("delete", "store.delete:after"),
    ("snapshot_delete", "lineage.reclaim:before"),
    ("snapshot_delete", "store.delete_snapshot:after"),
]


def _run_child(data_dir: Path, op: str, point: str, ids: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data_dir), op, point,
                           json.dumps(ids)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == CRASH_EXIT, f"crash point not reached:\n{proc.stderr[-3000:]}"


def _check_recovered(svc: Services) -> None:
    db = svc.volumes.rt.db
    for volume in db.volumes_where():
        assert volume.hidden or volume.status not in TRANSIENT_VOLUME, volume
    for snap in db.snapshots_where():
        assert snap.hidden or snap.status not in TRANSIENT_SNAPSHOT, snap
    for store in svc.volumes.rt.stores():
        for key in list(store.keys()):
            volume_id = volume_id_of(key)
            if volume_id is not None:
                assert db.find_volume(volume_id) is not None, f"{key} has no record"


def _setup(env: VolumeEnv, op: str, point: str) -> dict[str, str]:
    """The state the operation starts from: an origin volume with data (and what op needs)."""
    svc = env.services.volumes
    vol = svc.wait_volume(svc.create(CALLER, size=1).id)
    env.created.add(vol.id)
    env.write(vol, 0, MiB, 0x77)
    ids = {"volume": vol.id}
    if op == "clone":  # a first clone, so the crashing second one is past the depth limit
        first = svc.wait_volume(svc.create(CALLER, size=None, source_volid=vol.id).id)
        env.created.add(first.id)
        ids["volume"] = first.id
    if op == "snapshot_delete":
        snap = svc.wait_snapshot(svc.snapshot_create(CALLER, vol.id).id)
        child = vol
        if not point.startswith("store."):  # its clone keeps the snapshot (hidden) alive
            child = svc.wait_volume(svc.create(CALLER, size=None, snapshot_id=snap.id).id)
            env.created.add(child.id)
        ids.update(snapshot=snap.id, child=child.id)
    if op == "from_image":
        ids["image"] = _image(env.services)
    return ids


def _image(services: Services) -> str:
    ctx = services.admin_context()
    image = services.images.create(ctx, {"name": "img", "disk_format": "raw",
                                         "container_format": "bare", "visibility": "public"})
    payload = bytes([0x66]) * MiB

    async def chunks() -> Any:
        yield payload

    asyncio.run(services.data.upload(ctx, image.id, chunks(), len(payload), None))
    return image.id


#: on RBD (a child process connecting to Ceph costs seconds) the points that differ from the
#: file backend's by default; COWSHED_TEST_SLOW=1 runs them all.
RBD_POINTS = POINTS if os.environ.get("COWSHED_TEST_SLOW") else [
    ("clone", "store.clone:after"), ("clone", "store.flatten:before"),
    ("extend", "store.extend:after"), ("delete", "store.delete:after"),
    ("snapshot_delete", "lineage.reclaim:before"),
]


CASES = [pytest.param("file", op, point, id=f"file-{op}-{point}") for op, point in POINTS] + [
    pytest.param("rbd", op, point, id=f"rbd-{op}-{point}", marks=pytest.mark.ceph)
    for op, point in RBD_POINTS]


@pytest.mark.parametrize(("backend_kind", "op", "point"), CASES)
def test_crash_then_recover(env_factory: Any, backend_kind: str, op: str, point: str) -> None:
    env: VolumeEnv = env_factory(max_clone_depth=1)
    ids = _setup(env, op, point)
    data_dir = Path(env.services.settings.data_dir)
    env.services.close()
    _run_child(data_dir, op, point, ids)

    reopened = open_services(env_settings(data_dir))
    env.services = reopened
    reopened.recover()
    _check_recovered(reopened)
    svc = reopened.volumes
    db = svc.rt.db
    for volume in db.volumes_where():
        env.created.add(volume.id)
        if not volume.hidden and volume.status is VolumeStatus.AVAILABLE:
            # whatever survived as available holds the right data
            assert env.holds(volume, 0, MiB, 0x66 if volume.image_id else 0x77), (op, point)
    if op == "extend":
        assert db.get_volume(ids["volume"]).size in (1, 2)
    if op == "snapshot_delete":
        assert env.holds(db.get_volume(ids["child"]), 0, MiB, 0x77)
    _delete_everything(reopened)
    assert env.objects() == []


def _delete_everything(services: Services) -> None:
    svc = services.volumes
    db = svc.rt.db
    for volume in db.volumes_where():
        if not volume.hidden:
            svc.delete(CALLER, volume.id, cascade=True)
    for object_id in svc.rt.running():
        svc.rt.wait_local(object_id, 120)
    assert db.volumes_where() == [], db.volumes_where()

