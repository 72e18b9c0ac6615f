"""Volumes and images: create-from-image (an RBD clone of the image's snapshot when raw on the
same cluster, else a converted copy), upload-to-image (a new image whose bytes are the
volume's), and the image's place in the lineage."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cowshed.domain.images import ImageStatus
from cowshed.domain.volumes import LineageKind, VolumeStatus
from cowshed.errors import InUse, InvalidRequest, NotFound
from cowshed.services.app import Services
from tests.volumes.conftest import CALLER, MiB, VolumeEnv, _rbd_json

GiB = 1 << 30


def _upload(services: Services, data: bytes, disk_format: str) -> str:
    ctx = services.admin_context()
    image = services.images.create(ctx, {"name": "src", "disk_format": disk_format,
                                         "container_format": "bare", "visibility": "public",
                                         "os_distro": "cirros"})

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 4 * MiB):
            yield data[i:i + 4 * MiB]

    asyncio.run(services.data.upload(ctx, image.id, chunks(), len(data), None))
    return image.id


def _qcow2_with_pattern(tmp: Path) -> bytes:
    path = tmp / "src.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x3c {MiB} {MiB}", str(path)],
                   check=True, capture_output=True)
    return path.read_bytes()


def _image_bytes(services: Services, image_id: str) -> bytes:
    plan = services.data.plan_download(services.admin_context(), image_id, None, [])
    assert plan is not None
    return b"".join(plan.blocks(8 * MiB))


def test_create_from_image_and_upload_back(env: VolumeEnv, tmp_path: Path) -> None:
    svc = env.services.volumes
    if env.kind == "rbd":
        raw = bytes(MiB) + bytes([0x3c]) * MiB + bytes(62 * MiB)
        image_id = _upload(env.services, raw, "raw")
    else:
        image_id = _upload(env.services, _qcow2_with_pattern(tmp_path), "qcow2")
    vol = svc.wait_volume(svc.create(CALLER, size=1, image_id=image_id).id)
    env.created.add(vol.id)
    assert vol.status is VolumeStatus.AVAILABLE and vol.bootable
    assert vol.image_metadata["image_id"] == image_id
    assert vol.image_metadata["os_distro"] == "cirros"
    assert env.holds(vol, MiB, MiB, 0x3c) and env.holds(vol, 0, MiB, 0)
    assert env.store.size(vol.backend_key) == GiB
    tree = svc.lineage(CALLER, vol.id)
    assert (tree.kind, tree.id) == (LineageKind.IMAGE, image_id)
    assert [c.id for c in tree.children] == [vol.id]

    if env.kind == "rbd":  # an RBD clone of the image's protected snapshot, not a copy
        assert env.cluster is not None
        parent = _rbd_json(env.cluster, "info", f"{env.pool}/{vol.backend_key}")
        assert isinstance(parent, dict)
        assert (parent["parent"]["pool"], parent["parent"]["image"],
                parent["parent"]["snapshot"]) == ("images", image_id, "snap")
        with pytest.raises(InUse):  # Glance on RBD: the image cannot go while clones need it
            env.services.images.delete(env.services.admin_context(), image_id)

    env.write(vol, 8 * MiB, MiB, 0x5d)
    upload = svc.upload_to_image(CALLER, vol.id, image_name="back", disk_format="raw")
    assert svc.get(CALLER, vol.id).status in (VolumeStatus.UPLOADING, VolumeStatus.AVAILABLE)
    assert svc.wait_volume(vol.id).status is VolumeStatus.AVAILABLE
    image = env.services.images.get(env.services.admin_context(), upload.image_id)
    assert image.status is ImageStatus.ACTIVE and image.size == GiB
    data = _image_bytes(env.services, upload.image_id)
    assert data[MiB:2 * MiB] == bytes([0x3c]) * MiB
    assert data[8 * MiB:9 * MiB] == bytes([0x5d]) * MiB
    assert data.count(0) == GiB - 2 * MiB

    svc.delete(CALLER, vol.id)
    for object_id in svc.rt.running():
        svc.rt.wait_local(object_id, 120)
    env.services.images.delete(env.services.admin_context(), image_id)
    assert env.objects() == []


def test_upload_to_qcow2(env: VolumeEnv, tmp_path: Path) -> None:
    svc = env.services.volumes
    vol = svc.wait_volume(svc.create(CALLER, size=1).id)
    env.created.add(vol.id)
    env.write(vol, 3 * MiB, MiB, 0x6e)
    upload = svc.upload_to_image(CALLER, vol.id, image_name="q", disk_format="qcow2")
    svc.wait_volume(vol.id)
    out = tmp_path / "out.qcow2"
    out.write_bytes(_image_bytes(env.services, upload.image_id))
    check = subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"read -P 0x6e {3 * MiB} {MiB}",
                            str(out)], capture_output=True, text=True, check=True)
    assert "fail" not in check.stdout.lower()
    image = env.services.images.get(env.services.admin_context(), upload.image_id)
    assert image.disk_format == "qcow2" and image.virtual_size == GiB


def test_create_from_image_needs_a_size(env: VolumeEnv, tmp_path: Path) -> None:
    image_id = _upload(env.services, _qcow2_with_pattern(tmp_path), "qcow2")
    with pytest.raises(InvalidRequest):
        env.services.volumes.create(CALLER, size=None, image_id=image_id)
    with pytest.raises(NotFound):
        env.services.volumes.create(CALLER, size=1, image_id="no-such-image")
