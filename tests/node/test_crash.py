"""SIGKILL during fetch, convert and snapshot: no half base, no disk that claims to be
complete, and the next run finishes or cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from cowshed.node.cache import base_name
from cowshed.node.manager import NodeManager, SpawnRequest
from tests.integration._server import Server
from tests.node.fake_glance import FakeImage, fake_glance
from tests.node.helpers import MiB, make_raw, node_settings, qemu_io, upload_image, write_node_config

COWSHED = Path(sys.executable).with_name("cowshed")


def start_cli(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(COWSHED), "node", "--config", str(config), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool],
              timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read()!r}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def assert_nothing_claims_completion(instances: Path, image_id: str, instance: str) -> None:
    assert not (instances / "_base" / base_name(image_id)).exists()
    assert not (instances / instance / "instance.json").exists()


def test_sigkill_during_fetch_then_the_next_spawn_finishes(node_dir: Path) -> None:
    data = make_raw(16 * MiB, {0: 9, 9 * MiB: 8})
    with fake_glance() as glance:
        glance.images["img"] = FakeImage(data, stall=30)
        config = write_node_config(node_dir / "n.toml", image_service_url=glance.url,
                                   instances_path=str(node_dir / "instances"))
        work = node_dir / "instances" / "_base" / ".fetch" / base_name("img")
        proc = start_cli(config, "spawn", "vm", "--image", "img")
        # killed with half the bytes written (the server stalls there)
        kill_when(proc, lambda: any(p.stat().st_size > 0 for p in work.rglob("*.part")))
        assert_nothing_claims_completion(node_dir / "instances", "img", "vm")
        glance.images["img"].stall = 0
        with NodeManager(node_settings(node_dir, glance.url)) as node:
            record = node.spawn(SpawnRequest("vm", "img"))
            assert record.disk("disk").size == 16 * MiB
            assert not work.exists() and not list(node.ctx.instances_path.glob(".spawn-*"))
        assert glance.downloads == 2


def test_sigkill_during_convert_then_clean_up(node_dir: Path, image_server: Server,
                                              glance: httpx.Client) -> None:
    src = node_dir / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "256M"], check=True)
    for offset in range(0, 192 * MiB, 64 * MiB):  # data that takes a moment to convert
        qemu_io(src, "qcow2", f"write -P {1 + offset // MiB % 250} {offset} 32M")
    image = upload_image(glance, src.read_bytes(), "qcow2")
    config = write_node_config(node_dir / "n.toml", image_service_url=image_server.url,
                               instances_path=str(node_dir / "instances"))
    work = node_dir / "instances" / "_base" / ".fetch" / base_name(image)
    proc = start_cli(config, "spawn", "vm", "--image", image)
    kill_when(proc, lambda: (work / "converted").exists())
    assert_nothing_claims_completion(node_dir / "instances", image, "vm")
    time.sleep(0.5)  # qemu-img dies with its parent (pdeathsig); let the kernel reap it
    assert subprocess.run(["pgrep", "-f", str(work / "converted")]).returncode != 0
    with NodeManager(node_settings(node_dir, image_server.url)) as node:
        report = node.cache_clean()
        assert f"_base/.fetch/{base_name(image)}" in report.leftovers_removed
        assert ".spawn-vm-" in " ".join(report.leftovers_removed)
        assert not work.exists() and node.cache_list() == []


def test_sigkill_during_snapshot_then_clean_up(node_dir: Path, image_server: Server,
                                               glance: httpx.Client) -> None:
    image = upload_image(glance, make_raw(64 * MiB, {}), "raw")
    settings = node_settings(node_dir, image_server.url)
    with NodeManager(settings) as node:
        disk = Path(node.spawn(SpawnRequest("vm", image)).disk("disk").path)
    qemu_io(disk, "qcow2", "write -P 0x42 0 48M")
    proc = start_cli(node_dir / "node.toml", "snapshot", "vm", "--name", "doomed")
    snaps = node_dir / "instances" / "snapshots"
    kill_when(proc, lambda: any(snaps.glob("*/pending.json")))
    (work,) = list(snaps.iterdir())
    image_id = work.name
    assert glance.get(f"/v2/images/{image_id}").json()["status"] != "active"
    with NodeManager(settings) as node:
        report = node.cache_clean(verify=False)
        assert f"snapshots/{image_id}" in report.leftovers_removed
        assert node.instance("vm").disk("disk").path == str(disk)  # the instance is untouched
    assert not work.exists()
    assert glance.get(f"/v2/images/{image_id}").status_code == 404
