"""Real guests under libvirt (TCG) boot from the disks and the XML cowshed writes.

Each domain's ``<disk>`` elements are exactly what ``cowshed node disk-xml`` printed. The guest
(a Debian cloud kernel + busybox initramfs) writes a marker at 1 MiB of its disk and reads it
back; snapshots (cold and live) go into a real image service, a second instance is spawned from
them and boots to read the marker; the cached base's bytes never change.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cowshed.node.cache import base_name
from cowshed.node.manager import NodeManager
from cowshed.node.settings import ImagesType
from tests.integration._server import COWSHED, Server
from tests.node.boot_fixtures import BootKit, boot_kit_fixture  # noqa: F401 (the fixture)
from tests.node.guest import MARKER_OFFSET, boot, start, virsh
from tests.node.helpers import MiB, make_qcow2, node_settings, read_at, upload_image

pytestmark = pytest.mark.slow


def marker() -> str:
    return "M-" + uuid.uuid4().hex[:12]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Node:
    """A node directory under the boot root, driven through the CLI like an operator."""

    def __init__(self, kit: BootKit, server: Server, name: str, **settings: object) -> None:
        self.dir = kit.workdir(name)
        self.kit = kit
        settings.setdefault("instances_path", str(self.dir / "instances"))
        self.settings = node_settings(self.dir, server.url, **settings)
        self.config = self.dir / "node.toml"

    def cli(self, *args: str) -> dict[str, object]:
        out = subprocess.run([str(COWSHED), "node", "--config", str(self.config), *args,
                              "-f", "json"], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert isinstance(data, dict)
        return data

    def xml(self, instance: str) -> str:
        return str(self.cli("disk-xml", instance)["xml"])

    def boot(self, instance: str, cmdline: str) -> str:
        name = f"cowshed-{instance}-{uuid.uuid4().hex[:6]}"
        return boot(name, self.kit.guest, self.xml(instance), self.dir, cmdline).read()

    def manager(self) -> NodeManager:
        return NodeManager(self.settings)


@pytest.fixture(scope="module")
def base_image(image_server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A qcow2 image (converted to a raw base on the node) with data away from the marker."""
    data = make_qcow2(tmp_path_factory.mktemp("b") / "b.qcow2", 64 * MiB, {8 * MiB: 0x5C})
    with image_server.client() as client:
        return upload_image(client, data, "qcow2", os_distro="busybox", hw_rng_model="virtio")


def test_qcow2_boot_cold_snapshot_and_raw_spawn_from_it(boot_kit: BootKit, image_server: Server,
                                                        base_image: str) -> None:
    node = Node(boot_kit, image_server, "cold")
    node.cli("spawn", "vm1", "--image", base_image)
    base = Path(node.settings.node.instances_path) / "_base" / base_name(base_image)
    before = sha(base)
    m = marker()
    assert node.boot("vm1", f"bt.mode=write bt.marker={m}") == m
    disk = Path(node.settings.node.instances_path) / "vm1" / "disk"
    assert read_at(disk, "qcow2", MARKER_OFFSET, len(m)) == m.encode()
    assert sha(base) == before  # the base never changes
    snap = node.cli("snapshot", "vm1", "--name", "vm1-cold")
    props = snap["properties"]
    assert isinstance(props, dict)
    assert props["image_type"] == "snapshot" and props["instance_uuid"] == "vm1"
    assert props["base_image_ref"] == base_image and props["os_distro"] == "busybox"
    assert snap["status"] == "active" and snap["disk_format"] == "qcow2"
    node.cli("spawn", "vm2", "--image", str(snap["id"]), "--images-type", "raw")
    assert node.boot("vm2", f"bt.mode=read bt.marker={m}") == m
    assert sha(base) == before


def test_live_snapshot_of_a_running_guest(boot_kit: BootKit, image_server: Server,
                                          base_image: str) -> None:
    node = Node(boot_kit, image_server, "live")
    node.cli("spawn", "vm3", "--image", base_image)
    m = marker()
    domain = f"cowshed-live-{uuid.uuid4().hex[:6]}"
    running = start(domain, boot_kit.guest, node.xml("vm3"), node.dir,
                    f"bt.mode=write bt.marker={m} bt.hold=600")
    try:
        running.wait_for("BT-HOLD: running")
        snap = node.cli("snapshot", "vm3", "--name", "vm3-live", "--live", "--domain", domain)
        assert virsh("domstate", domain).stdout.strip() == "running"  # never paused or pivoted
    finally:
        virsh("destroy", domain, check=False)
    assert snap["status"] == "active"
    node.cli("spawn", "vm4", "--image", str(snap["id"]))
    assert node.boot("vm4", f"bt.mode=read bt.marker={m}") == m


def test_encrypted_qcow2_boots_and_hides_the_marker(boot_kit: BootKit, image_server: Server,
                                                    base_image: str) -> None:
    node = Node(boot_kit, image_server, "luks", encryption_iter_time_ms=100)
    record = node.cli("spawn", "vm5", "--image", base_image, "--encrypt")
    (disk,) = record["disks"]  # type: ignore[misc]
    secret = disk["encryption"]["secret_uuid"]
    enc = ET.fromstring(node.xml("vm5")).find("source/encryption")
    assert enc is not None and enc.get("format") == "luks"
    assert enc.find("secret").attrib == {"type": "passphrase", "uuid": secret}  # type: ignore[union-attr]
    key = node.manager().ctx.keys.passphrase(secret)
    m = marker()
    assert node.boot("vm5", f"bt.mode=write bt.marker={m}") == m
    assert node.boot("vm5", f"bt.mode=read bt.marker={m}") == m  # a fresh boot decrypts it
    files = [p for p in Path(node.settings.node.instances_path).rglob("*") if p.is_file()]
    for path in files:  # disks, records, disk.info, the cache, the wrapped keys
        data = path.read_bytes()
        assert m.encode() not in data, path
        assert key not in data, path
    for path in Path("/var/log/libvirt/qemu").glob("cowshed-vm5-*.log"):
        assert key not in path.read_bytes(), path  # (they hold the kernel cmdline, marker too)
    with node.manager() as manager:
        manager.delete("vm5")
    assert subprocess.run(["virsh", "-c", "qemu:///system", "secret-dumpxml", secret],
                          capture_output=True).returncode != 0
    assert node.settings.node.images_type.effective is ImagesType.QCOW2


def test_live_snapshot_of_a_plain_qemu_guest_over_qmp(boot_kit: BootKit, image_server: Server,
                                                      base_image: str) -> None:
    node = Node(boot_kit, image_server, "qmp")
    record = node.cli("spawn", "vm6", "--image", base_image)
    disk = record["disks"][0]["path"]  # type: ignore[index]
    m = marker()
    sock = node.dir / "qmp.sock"
    console = node.dir / "vm6.console"
    blockdev = json.dumps({"driver": "qcow2", "node-name": "disk0",
                           "file": {"driver": "file", "filename": disk}})
    qemu = subprocess.Popen([
        "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nodefaults", "-no-user-config",
        "-display", "none", "-serial", f"file:{console}", "-no-reboot",
        "-kernel", str(boot_kit.guest.kernel), "-initrd", str(boot_kit.guest.initrd),
        "-append", f"console=ttyS0 panic=-1 quiet bt.mode=write bt.marker={m} bt.hold=600",
        "-blockdev", blockdev, "-device", "virtio-blk-pci,drive=disk0",
        "-qmp", f"unix:{sock},server=on,wait=off"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while b"BT-HOLD: running" not in (console.read_bytes() if console.exists() else b""):
            assert qemu.poll() is None and time.monotonic() < deadline, qemu.stderr
            time.sleep(0.2)
        snap = node.cli("snapshot", "vm6", "--name", "vm6-qmp", "--live", "--qmp", str(sock))
        assert qemu.poll() is None  # the guest still runs
    finally:
        qemu.kill()
        qemu.wait(30)
    assert snap["status"] == "active" and snap["method"] == "live"
    node.cli("spawn", "vm7", "--image", str(snap["id"]))
    assert node.boot("vm7", f"bt.mode=read bt.marker={m}") == m
