"""The base-image cache: verified, inspected, atomic; one download for many spawns."""

from __future__ import annotations

import concurrent.futures
import hashlib
import subprocess
from pathlib import Path

import pytest

from cowshed.errors import BackendUnavailable, DataCorrupted, UnsafeImage
from cowshed.formats.qemu_img import QemuImg
from cowshed.node.cache import base_name
from cowshed.node.manager import NodeManager, SpawnRequest
from tests.node.fake_glance import FakeImage, fake_glance
from tests.node.helpers import MiB, make_qcow2, make_raw, node_settings

GOOD = make_raw(2 * MiB, {0: 1})


def _nothing_published(node: NodeManager, image_id: str) -> None:
    root = node.ctx.cache.root
    assert not (root / base_name(image_id)).exists()
    assert not (root / ".meta" / f"{base_name(image_id)}.json").exists()
    assert not list((root / ".fetch").iterdir()) if (root / ".fetch").exists() else True
    assert not list(node.ctx.instances_path.glob(".spawn-*"))
    assert node.instances() == []


@pytest.mark.parametrize(("image", "error", "message"), [
    (FakeImage(GOOD, checksum="0" * 32), DataCorrupted, "md5 of the downloaded data"),
    (FakeImage(GOOD, os_hash_value="0" * 128), DataCorrupted, "sha512"),
    (FakeImage(GOOD, disk_format="qcow2"), UnsafeImage, "qcow2"),
])
def test_bad_downloads_publish_nothing(node_dir: Path, image: FakeImage,
                                       error: type[Exception], message: str) -> None:
    with fake_glance() as glance:
        glance.images["img"] = image
        with NodeManager(node_settings(node_dir, glance.url)) as node:
            with pytest.raises(error, match=message):
                node.spawn(SpawnRequest("vm", "img"))
            _nothing_published(node, "img")


def test_a_mismatch_found_after_the_conversion_publishes_nothing(node_dir: Path) -> None:
    """The hashes trail the download and the qcow2 is converted meanwhile; the wrong
    ``os_hash_value`` still stops the spawn before anything is published."""
    data = make_qcow2(node_dir / "src.qcow2", 64 * MiB, {8 * MiB: 0x5c})
    calls: list[str] = []
    with fake_glance() as glance:
        glance.images["img"] = FakeImage(data, disk_format="qcow2", os_hash_value="0" * 128)
        with NodeManager(node_settings(node_dir, glance.url),
                         qemu=QemuImg(audit=lambda c: calls.append(c.operation))) as node:
            with pytest.raises(DataCorrupted, match="sha512"):
                node.spawn(SpawnRequest("vm", "img"))
            _nothing_published(node, "img")
        assert "convert" in calls  # the conversion did run before the verdict
        glance.images["img"] = FakeImage(data, disk_format="qcow2")
        with NodeManager(node_settings(node_dir, glance.url)) as node:
            base = node.ctx.cache.load(base_name("img"))
            assert base is None
            node.spawn(SpawnRequest("vm", "img"))
            base = node.ctx.cache.load(base_name("img"))
            assert base is not None and base.format == "raw" and base.source is not None
            assert base.source.os_hash_value == hashlib.sha512(data).hexdigest()
            assert base.source.checksum == hashlib.md5(data).hexdigest()
            with base.path.open("rb") as fh:
                fh.seek(8 * MiB)
                assert fh.read(4) == b"\x5c" * 4


def test_hostile_qcow2_never_reaches_qemu_img(node_dir: Path) -> None:
    """A qcow2 naming a backing file on the host: refused by the inspector while streaming."""
    calls: list[str] = []
    evil = node_dir / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "/etc/shadow", "-F",
                    "raw", str(evil), "16M"], check=True)
    with fake_glance() as glance:
        glance.images["evil"] = FakeImage(evil.read_bytes(), disk_format="qcow2")
        with NodeManager(node_settings(node_dir, glance.url),
                         qemu=QemuImg(audit=lambda c: calls.append(c.operation))) as node:
            with pytest.raises(UnsafeImage):
                node.spawn(SpawnRequest("vm", "evil"))
            _nothing_published(node, "evil")
    assert calls == []


def test_a_stream_cut_short_publishes_nothing(node_dir: Path) -> None:
    with fake_glance() as glance:
        glance.images["img"] = FakeImage(GOOD, cut_at=MiB)
        with NodeManager(node_settings(node_dir, glance.url)) as node:
            with pytest.raises(BackendUnavailable, match="stream broke"):
                node.spawn(SpawnRequest("vm", "img"))
            _nothing_published(node, "img")


def test_concurrent_spawns_of_one_uncached_image_download_once(node_dir: Path) -> None:
    data = make_raw(8 * MiB, {0: 3, 5 * MiB: 4})
    with fake_glance() as glance:
        glance.images["img"] = FakeImage(data, stall=0.3)
        with NodeManager(node_settings(node_dir, glance.url)) as node:
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                records = list(pool.map(
                    lambda i: node.spawn(SpawnRequest(f"vm{i}", "img")), range(16)))
            assert glance.downloads == 1
            assert len({r.disk("disk").path for r in records}) == 16
            base = node.ctx.cache.root / base_name("img")
            assert hashlib.sha512(base.read_bytes()).hexdigest() == hashlib.sha512(
                data).hexdigest()
