"""Spawning on the file types (qcow2 overlays, raw copies) from a real image service."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from cowshed.domain.instance_disks import Flavor, Provision
from cowshed.errors import AlreadyExists, ConfigError, InvalidRequest, UnsupportedOperation
from cowshed.formats.qemu_img import QemuImg
from cowshed.node.cache import base_name
from cowshed.node.lvm import device_mapper_problem
from cowshed.node.manager import NodeManager, SpawnRequest
from cowshed.node.settings import ImagesType
from tests.integration._server import Server
from tests.node.helpers import MiB, make_qcow2, make_raw, node_settings, read_at, upload_image

SIZE = 16 * MiB


@pytest.fixture(scope="module")
def qcow2_image(image_server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    data = make_qcow2(tmp_path_factory.mktemp("img") / "i.qcow2", SIZE, {0: 0xAB, 4 * MiB: 0xCD})
    with image_server.client() as client:
        return upload_image(client, data, "qcow2", os_distro="busybox", hw_qemu_guest_agent="no")


@pytest.fixture(scope="module")
def raw_image(image_server: Server) -> str:
    with image_server.client() as client:
        return upload_image(client, make_raw(SIZE, {MiB: 0x5A}), "raw")


def manager(node_dir: Path, server: Server, **node: object) -> NodeManager:
    return NodeManager(node_settings(node_dir, server.url, **node))


def test_qcow2_spawn_overlays_a_raw_base(node_dir: Path, image_server: Server,
                                         qcow2_image: str) -> None:
    calls: list[str] = []
    with NodeManager(node_settings(node_dir, image_server.url),
                     qemu=QemuImg(audit=lambda c: calls.append(c.operation))) as node:
        record = node.spawn(SpawnRequest("vm-a", qcow2_image, Flavor(root_gb=1)))
        root = record.disk("disk")
        assert root.provision is Provision.OVERLAY and root.format == "qcow2"
        assert root.size == 1 << 30 and root.target == "vda"
        base = node.ctx.cache.root / base_name(qcow2_image)
        info = json.loads(subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", "-f", "qcow2", root.path],
            capture_output=True, text=True, check=True).stdout)
        assert info["backing-filename"] == str(base)
        assert info["backing-filename-format"] == "raw"  # force_raw_images converted it
        assert read_at(Path(root.path), "qcow2", 4 * MiB, 16) == b"\xcd" * 16
        disk_info = json.loads((node_dir / "instances" / "vm-a" / "disk.info").read_text())
        assert disk_info == {root.path: "qcow2"}
        assert record.image["properties"]["os_distro"] == "busybox"
        # qemu-img info (agreeing with the inspector) and measure (the output fits) ran before
        # the convert, then the overlay
        assert calls[:3] == ["info", "measure", "convert"] and "create" in calls
        # a second instance reuses the base: no download, no conversion
        calls.clear()
        node.spawn(SpawnRequest("vm-b", qcow2_image))
        assert "convert" not in calls and "info" not in calls
        assert [e.users for e in node.cache_list()] == [["vm-a", "vm-b"]]


def test_raw_spawn_copies_and_grows(node_dir: Path, image_server: Server,
                                    raw_image: str) -> None:
    with manager(node_dir, image_server, images_type="flat", preallocate_images="space") as node:
        record = node.spawn(SpawnRequest("vm-r", raw_image, Flavor(root_gb=1)))
        root = record.disk("disk")
        assert root.provision is Provision.COPY and root.format == "raw"
        path = Path(root.path)
        assert path.stat().st_size == 1 << 30
        assert path.stat().st_blocks * 512 >= 1 << 30  # preallocate_images = space
        assert read_at(path, "raw", MiB, 8) == b"\x5a" * 8
        assert 'io="native"' in node.disk_xml("vm-r") or 'cache="writeback"' in node.disk_xml(
            "vm-r")


def test_flavor_extras_and_xml(node_dir: Path, image_server: Server, qcow2_image: str) -> None:
    with manager(node_dir, image_server, disk_cachemodes=["file=writeback"],
                 hw_disk_discard="unmap") as node:
        record = node.spawn(SpawnRequest("vm-x", qcow2_image,
                                         Flavor(ephemeral_gb=1, swap_mb=32), config_drive=True))
        eph, swap, cd = (record.disk(n) for n in ("disk.eph0", "disk.swap", "disk.config"))
        assert (eph.target, swap.target, cd.target, cd.device) == ("vdb", "vdc", "hdd", "cdrom")
        assert read_at(Path(eph.path), "qcow2", 1080, 2) == b"\x53\xef"  # ext4 superblock magic
        assert read_at(Path(swap.path), "qcow2", 4086, 10) == b"SWAPSPACE2"
        assert Path(cd.path).read_bytes()[0x8001:0x8006] == b"CD001"
        xml = node.disk_xml("vm-x")
        assert xml.index('dev="vda"') < xml.index('dev="vdb"') < xml.index('dev="hdd"')
        assert xml.count('cache="writeback"') == 4 and xml.count('discard="unmap"') == 4
        assert "<readonly />" in xml
        names = {e.name for e in node.cache_list()}
        assert {"ephemeral_1_ext4", "swap_32", base_name(qcow2_image)} == names


def test_plan_changes_nothing_and_says_download(node_dir: Path, image_server: Server,
                                                qcow2_image: str) -> None:
    with manager(node_dir, image_server) as node:
        plan = node.plan(SpawnRequest("vm-p", qcow2_image, Flavor(root_gb=1, swap_mb=8)))
        data = plan.record()
        assert data["download_bytes"] > 0
        disk = data["disks"][0]  # type: ignore[index]
        assert disk["provision"] == "overlay" and any("download" in s for s in disk["steps"])
        assert not (node_dir / "instances" / "vm-p").exists()
        assert node.cache_list() == []
        node.spawn(SpawnRequest("vm-p", qcow2_image))
        again = node.plan(SpawnRequest("vm-q", qcow2_image)).record()
        assert again["download_bytes"] == 0


def test_refusals(node_dir: Path, image_server: Server, qcow2_image: str,
                  glance: httpx.Client) -> None:
    with manager(node_dir, image_server) as node:
        with pytest.raises(InvalidRequest, match="invalid instance name"):
            node.spawn(SpawnRequest("../etc", qcow2_image))
        node.spawn(SpawnRequest("vm-s", qcow2_image))
        with pytest.raises(AlreadyExists):
            node.spawn(SpawnRequest("vm-s", qcow2_image))
        # a root disk smaller than the image is a shrink: refused, nothing left behind
        image = upload_image(glance, make_qcow2(node_dir / "h.qcow2", 2 << 30, {}), "qcow2")
        with pytest.raises(InvalidRequest, match="shrink is refused"):
            node.spawn(SpawnRequest("vm-t", image, Flavor(root_gb=1)))
        assert not (node.ctx.instances_path / "vm-t").exists()
        assert not list(node.ctx.instances_path.glob(".spawn-*"))


def test_lvm_without_device_mapper_is_a_clear_error_at_start(node_dir: Path,
                                                              image_server: Server) -> None:
    if device_mapper_problem() is None:  # a host with device-mapper: LVM is not built yet
        with pytest.raises(UnsupportedOperation, match="not implemented"):
            manager(node_dir, image_server, images_type="lvm", images_volume_group="vg0")
        return
    with pytest.raises(ConfigError, match="needs device-mapper"):
        manager(node_dir, image_server, images_type="lvm", images_volume_group="vg0")


def test_images_type_override_per_spawn(node_dir: Path, image_server: Server,
                                        raw_image: str) -> None:
    with manager(node_dir, image_server, images_type="qcow2") as node:
        record = node.spawn(SpawnRequest("vm-o", raw_image, images_type=ImagesType.RAW))
        assert record.disk("disk").provision is Provision.COPY
        assert record.images_type == "raw"
