"""``images_type = "rbd"`` against a real Ceph cluster and a real image service on RBD.

Clone, don't download: a raw image whose location is an RBD snapshot on the same cluster
becomes a layered clone; anything else is fetched, converted and imported, unless
``never_download_image_if_on_rbd`` forbids it.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowshed.dev.ceph import DevCephCluster
from cowshed.domain.instance_disks import Flavor, Provision
from cowshed.errors import InvalidRequest, UnsupportedOperation
from cowshed.node.manager import NodeManager, SnapshotRequest, SpawnRequest
from cowshed.node.settings import ImagesType
from tests.integration._server import COWSHED, Server
from tests.node.boot_fixtures import BootKit, boot_kit_fixture  # noqa: F401 (the fixture)
from tests.node.guest import MARKER_OFFSET, boot
from tests.node.helpers import (
    MiB,
    cli_json,
    make_qcow2,
    make_raw,
    node_settings,
    upload_image,
)

pytestmark = pytest.mark.ceph
VMS = "vms"


@pytest.fixture(scope="module")
def rbd_image_server(ceph_cluster: DevCephCluster, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Server]:
    """``cowshed serve`` storing images in the ``images`` pool, showing their locations."""
    ceph_cluster.create_pool(VMS)
    root = tmp_path_factory.mktemp("rbd-glance")
    config = root / "glance.toml"
    config.write_text(
        "show_multiple_locations = true\nshow_image_direct_url = true\n"
        'default_backend = "ceph"\n[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "images"\n'
        f'rbd_store_ceph_conf = "{ceph_cluster.conf_path}"\n'
        '[volume_backends.ceph]\ntype = "rbd"\nrbd_pool = "volumes"\n'
        f'rbd_ceph_conf = "{ceph_cluster.conf_path}"\n')
    server = Server(root / "data", config)
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.kill()
        ceph_cluster.delete_pool(VMS)


def rbd_node(node_dir: Path, server: Server, cluster: DevCephCluster, **node: Any
             ) -> NodeManager:
    return NodeManager(node_settings(node_dir, server.url, images_type="rbd",
                                     images_rbd_pool=VMS,
                                     images_rbd_ceph_conf=str(cluster.conf_path), **node))


def read_rbd(cluster: DevCephCluster, spec: str, offset: int, length: int) -> bytes:
    rados, rbd = importlib.import_module("rados"), importlib.import_module("rbd")
    pool, name = spec.split("/", 1)
    name, _, snap = name.partition("@")
    with (rados.Rados(conffile=str(cluster.conf_path)) as client, client.open_ioctx(pool) as io,
          rbd.Image(io, name, snapshot=snap or None, read_only=True) as image):
        return bytes(image.read(offset, length))


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    path = tmp_path / "node"
    path.mkdir(mode=0o755)
    return path


def test_raw_image_on_the_same_cluster_is_cloned(node_dir: Path, rbd_image_server: Server,
                                                 ceph_cluster: DevCephCluster) -> None:
    with rbd_image_server.client() as client:
        image = upload_image(client, make_raw(8 * MiB, {2 * MiB: 0x42}), "raw")
    with rbd_node(node_dir, rbd_image_server, ceph_cluster) as node:
        plan = node.plan(SpawnRequest("vm-c", image, Flavor(root_gb=1))).record()
        assert plan["download_bytes"] == 0
        record = node.spawn(SpawnRequest("vm-c", image, Flavor(root_gb=1)))
        root = record.disk("disk")
        assert root.provision is Provision.CLONE and root.path == f"{VMS}/vm-c_disk"
        assert root.parent == f"images/{image}@snap" and root.size == 1 << 30
        assert node.ctx.rbd.parent("vm-c_disk") is not None
        assert node.cache_list() == []  # nothing was downloaded
        assert read_rbd(ceph_cluster, root.path, 2 * MiB, 4) == b"\x42" * 4
        xml = node.disk_xml("vm-c")
        assert '<source protocol="rbd" name="vms/vm-c_disk">' in xml
        assert f'port="{ceph_cluster.status().mon_addr.rsplit(":", 1)[1]}"' in xml  # type: ignore[union-attr]
        with pytest.raises(UnsupportedOperation, match="cannot encrypt an RBD clone"):
            node.spawn(SpawnRequest("vm-e", image, encrypt=True))
        assert not node.ctx.rbd.exists("vm-e_disk")
        disk = node.ctx.rbd.image("vm-c_disk")
        disk.write(b"SNAP-ME!" * 512, 5 * MiB)
        disk.close()
        result = node.snapshot(SnapshotRequest("vm-c", "vm-c-snap"))
        assert result.method == "direct" and result.image.status == "active"
        fsid = node.ctx.rbd.fsid()
        assert result.image.locations == (f"rbd://{fsid}/images/{result.image.id}/snap",)
        assert node.ctx.rbd.parent(result.image.id, pool="images") is None  # flattened
        assert read_rbd(ceph_cluster, f"images/{result.image.id}@snap", 5 * MiB, 8) == b"SNAP-ME!"
        assert read_rbd(ceph_cluster, f"images/{result.image.id}", 2 * MiB, 4) == b"\x42" * 4
        assert result.image.properties["image_type"] == "snapshot"
        assert not [s for s in node.ctx.rbd.image("vm-c_disk").list_snaps()]  # temp snap gone
        report = node.delete("vm-c")
        assert report.receipts[0].verified and not node.ctx.rbd.exists("vm-c_disk")


def test_qcow2_image_is_fetched_converted_and_imported(node_dir: Path, rbd_image_server: Server,
                                                       ceph_cluster: DevCephCluster) -> None:
    data = make_qcow2(node_dir / "i.qcow2", 8 * MiB, {3 * MiB: 0x33})
    with rbd_image_server.client() as client:
        image = upload_image(client, data, "qcow2")
    with rbd_node(node_dir, rbd_image_server, ceph_cluster,
                  never_download_image_if_on_rbd=True) as node:
        with pytest.raises(InvalidRequest, match="never_download_image_if_on_rbd"):
            node.spawn(SpawnRequest("vm-n", image))
        assert not node.ctx.rbd.exists("vm-n_disk") and node.cache_list() == []
    with rbd_node(node_dir, rbd_image_server, ceph_cluster) as node:
        record = node.spawn(SpawnRequest("vm-i", image, Flavor(swap_mb=8)))
        root = record.disk("disk")
        assert root.provision is Provision.IMPORT and root.parent is None
        assert read_rbd(ceph_cluster, root.path, 3 * MiB, 4) == b"\x33" * 4
        assert record.disk("disk.swap").path == f"{VMS}/vm-i_disk.swap"
        assert [e.format for e in node.cache_list() if e.kind == "original"] == ["raw"]
        node.delete("vm-i")
        assert not node.ctx.rbd.exists("vm-i_disk")


def test_leftovers_of_a_dead_spawn_are_removed(node_dir: Path, rbd_image_server: Server,
                                               ceph_cluster: DevCephCluster) -> None:
    with rbd_node(node_dir, rbd_image_server, ceph_cluster) as node:
        node.ctx.rbd.create("dead-1_disk", MiB)  # as a SIGKILLed spawn leaves it
        node.ctx.rbd.create("not-ours", MiB)
        report = node.cache_clean()
        assert f"rbd:{VMS}/dead-1_disk" in report.leftovers_removed
        assert not node.ctx.rbd.exists("dead-1_disk") and node.ctx.rbd.exists("not-ours")
        node.ctx.rbd.remove("not-ours")
        assert node.ctx.node.images_type is ImagesType.RBD


def test_warm_clones_skip_the_snapshot_open_and_a_vanished_snapshot_means_download(
        node_dir: Path, rbd_image_server: Server, ceph_cluster: DevCephCluster) -> None:
    """The snapshot's facts are remembered after the first clone; when the snapshot goes behind
    the node's back, the spawn decides again (here: no snapshot, so fetch and import)."""
    with rbd_image_server.client() as client:
        image = upload_image(client, make_raw(4 * MiB, {MiB: 0x17}), "raw")
    with rbd_node(node_dir, rbd_image_server, ceph_cluster) as node:
        rbd = node.ctx.rbd
        opened: list[str] = []
        real_open = rbd._open_source
        rbd._open_source = lambda loc: opened.append(loc.image) or real_open(loc)  # type: ignore[method-assign]
        for name in ("warm-1", "warm-2"):
            assert node.spawn(SpawnRequest(name, image)).disk("disk").provision is Provision.CLONE
        assert opened == [image]  # one open for both spawns
        node.delete("warm-1")
        node.delete("warm-2")
        for args in (("snap", "unprotect"), ("snap", "rm")):
            subprocess.run(["rbd", "-c", str(ceph_cluster.conf_path), *args,
                            f"images/{image}@snap"], check=True, capture_output=True)
        record = node.spawn(SpawnRequest("warm-3", image))
        assert record.disk("disk").provision is Provision.IMPORT
        assert read_rbd(ceph_cluster, record.disk("disk").path, MiB, 4) == b"\x17" * 4
        assert opened == [image, image]
        node.delete("warm-3")


# -- booting real guests from RBD disks ------------------------------------------------------------


def _rbd_boot_node(kit: BootKit, name: str, server: Server, cluster: DevCephCluster,
                   **node: Any) -> tuple[Path, NodeManager]:
    work = kit.workdir(name)
    manager = rbd_node(work, server, cluster, instances_path=str(work / "instances"), **node)
    return work / "node.toml", manager


@pytest.mark.slow
def test_rbd_clone_boots_snapshots_and_the_snapshot_boots(
        boot_kit: BootKit, rbd_image_server: Server, ceph_cluster: DevCephCluster) -> None:
    with rbd_image_server.client() as client:
        image = upload_image(client, make_raw(64 * MiB, {8 * MiB: 0x61}), "raw")
    config, node = _rbd_boot_node(boot_kit, "rbd-clone", rbd_image_server, ceph_cluster)
    with node:
        root = node.spawn(SpawnRequest("vr1", image)).disk("disk")
        assert root.provision is Provision.CLONE
        m = "R-" + uuid.uuid4().hex[:10]
        xml = str(cli_json(config, "disk-xml", "vr1")["xml"])
        assert boot(f"cowshed-vr1-{m}", boot_kit.guest, xml, config.parent,
                    f"bt.mode=write bt.marker={m}").read() == m
        assert read_rbd(ceph_cluster, root.path, MARKER_OFFSET, len(m)) == m.encode()
        # the image (the clone's parent snapshot) never changes
        assert read_rbd(ceph_cluster, f"images/{image}@snap", MARKER_OFFSET, 16) == bytes(16)
        snap = cli_json(config, "snapshot", "vr1", "--name", "vr1-snap")
        assert snap["method"] == "direct"  # made inside Ceph, registered as a location
        snap_id = str(snap["id"])
        second = node.spawn(SpawnRequest("vr2", snap_id)).disk("disk")
        assert second.provision is Provision.CLONE  # the snapshot is raw, in the same cluster
        xml = str(cli_json(config, "disk-xml", "vr2")["xml"])
        assert boot(f"cowshed-vr2-{m}", boot_kit.guest, xml, config.parent,
                    f"bt.mode=read bt.marker={m}").read() == m
        node.delete("vr2")
        node.delete("vr1")


@pytest.mark.slow
def test_encrypted_rbd_disk_boots_and_hides_the_marker(
        boot_kit: BootKit, rbd_image_server: Server, ceph_cluster: DevCephCluster) -> None:
    data = make_qcow2(boot_kit.workdir("rbd-enc-img") / "i.qcow2", 32 * MiB, {})
    with rbd_image_server.client() as client:
        image = upload_image(client, data, "qcow2")  # not cloneable: imported, so encryptable
    config, node = _rbd_boot_node(boot_kit, "rbd-enc", rbd_image_server, ceph_cluster)
    with node:
        root = node.spawn(SpawnRequest("ve1", image, encrypt=True)).disk("disk")
        assert root.provision is Provision.IMPORT and root.encryption is not None
        assert root.encryption.format == "luks2" and root.encryption.engine == "librbd"
        xml = str(cli_json(config, "disk-xml", "ve1")["xml"])
        assert 'engine="librbd"' in xml
        m = "E-" + uuid.uuid4().hex[:10]
        for mode in ("write", "read"):
            assert boot(f"cowshed-ve1-{mode}-{m}", boot_kit.guest, xml, config.parent,
                        f"bt.mode={mode} bt.marker={m}").read() == m
        raw = read_rbd(ceph_cluster, root.path, 0, 64 * MiB)
        assert m.encode() not in raw and raw[:4] == b"LUKS"
        node.delete("ve1")


def test_sigkill_after_the_clone_then_the_next_spawn_finishes(
        node_dir: Path, rbd_image_server: Server, ceph_cluster: DevCephCluster) -> None:
    """Killed after the root clone exists (the ephemeral disk is still being made): the clone
    claims nothing, and the next spawn of the instance removes it and starts over."""
    with rbd_image_server.client() as client:
        image = upload_image(client, make_raw(4 * MiB, {}), "raw")
    with rbd_node(node_dir, rbd_image_server, ceph_cluster) as node:
        cmd = [str(COWSHED), "node", "--config", str(node_dir / "node.toml"), "spawn", "vk",
               "--image", image, "--ephemeral-gb", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not node.ctx.rbd.exists("vk_disk"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert not node.ctx.store.exists("vk")
        record = node.spawn(SpawnRequest("vk", image, Flavor(ephemeral_gb=2)))
        assert record.disk("disk").provision is Provision.CLONE
        assert record.disk("disk.eph0").provision is Provision.IMPORT
        node.delete("vk")
        assert [n for n in node.ctx.rbd.names() if n.startswith("vk_")] == []


# -- boot from volume ---------------------------------------------------------------------------

V3 = "/volume/v3"


def wait_for(client: Any, url: str, key: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        body = client.get(url).json()[key]
        if body["status"] == status:
            return dict(body)
        assert body["status"] != "error" and time.monotonic() < deadline, body
        time.sleep(0.1)


def new_volume(client: Any, **spec: Any) -> str:
    resp = client.post(f"{V3}/volumes", json={"volume": {"size": 1, **spec}})
    assert resp.status_code == 202, resp.text
    volume_id = str(resp.json()["volume"]["id"])
    wait_for(client, f"{V3}/volumes/{volume_id}", "volume", "available")
    return volume_id


@pytest.mark.slow
def test_boot_from_volume_boots_snapshots_and_detaches(
        boot_kit: BootKit, rbd_image_server: Server, ceph_cluster: DevCephCluster) -> None:
    """Spawn on a volume of the real volume service, boot it from the XML, snapshot it (volume
    snapshot + zero-byte image with block_device_mapping), delete (detach, no wipe)."""
    work = boot_kit.workdir("bfv")
    config = work / "node.toml"
    node_settings(work, rbd_image_server.url, instances_path=str(work / "instances"),
                  volume_service_url=rbd_image_server.url + "/volume")
    with rbd_image_server.client() as client:
        vol = new_volume(client, name="bfv")
        plan = cli_json(config, "spawn", "vb1", "--boot-volume", vol, "--plan")
        assert plan["disks"][0]["provision"] == "volume" and plan["bytes_moved"] == 0
        record = cli_json(config, "spawn", "vb1", "--boot-volume", vol, "--swap-mb", "8")
        root = record["disks"][0]
        assert root["provision"] == "volume" and root["volume_id"] == vol
        assert root["path"] == f"volumes/volume-{vol}" and root["size"] == 1 << 30
        wait_for(client, f"{V3}/volumes/{vol}", "volume", "in-use")
        xml = str(cli_json(config, "disk-xml", "vb1")["xml"])
        assert f"<serial>{vol}</serial>" in xml
        m = "V-" + uuid.uuid4().hex[:10]
        assert boot(f"cowshed-vb1-{m}", boot_kit.guest, xml, work,
                    f"bt.mode=write bt.marker={m}").read() == m

        snap = cli_json(config, "snapshot", "vb1", "--name", "vb1-snap")
        assert snap["method"] == "volume"
        image = client.get(f"/v2/images/{snap['id']}").json()
        assert image["size"] is None and image["bdm_v2"] == "True"
        assert image["root_device_name"] == "/dev/vda"
        (bdm,) = json.loads(image["block_device_mapping"])
        assert bdm["source_type"] == "snapshot" and bdm["boot_index"] == 0
        snapshot = wait_for(client, f"{V3}/snapshots/{bdm['snapshot_id']}", "snapshot",
                            "available")
        assert snapshot["volume_id"] == vol
        # what booting that image does: a volume from the snapshot holds the guest's marker
        copy = new_volume(client, snapshot_id=bdm["snapshot_id"])
        assert read_rbd(ceph_cluster, f"volumes/volume-{copy}", MARKER_OFFSET, len(m)) == (
            m.encode())

        deleted = cli_json(config, "delete", "vb1")
        assert [r["disk"] for r in deleted["receipts"]] == ["disk.swap"]  # the volume: kept
        wait_for(client, f"{V3}/volumes/{vol}", "volume", "available")
        assert read_rbd(ceph_cluster, f"volumes/volume-{vol}", MARKER_OFFSET, len(m)) == (
            m.encode())
