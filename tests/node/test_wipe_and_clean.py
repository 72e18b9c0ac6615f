"""Delete wipes with a receipt; cache clean-up keeps what is used and never loses a race."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from cowshed.node.cache import base_name
from cowshed.node.manager import NodeManager, SpawnRequest
from tests.integration._server import Server
from tests.node.helpers import MiB, make_raw, node_settings, qemu_io, upload_image

OLD = time.time() - 10 * 86400


@pytest.fixture(scope="module")
def image(image_server: Server) -> str:
    with image_server.client() as client:
        return upload_image(client, make_raw(4 * MiB, {0: 0x11}), "raw")


@pytest.mark.parametrize("method", ["zero", "shred"])
def test_delete_leaves_no_old_byte_readable(node_dir: Path, image_server: Server, image: str,
                                            method: str) -> None:
    secret = b"TOP-SECRET-GUEST-DATA-" * 1000
    with NodeManager(node_settings(node_dir, image_server.url, volume_clear=method,
                                   images_type="raw")) as node:
        disk = Path(node.spawn(SpawnRequest("vm", image)).disk("disk").path)
        with disk.open("r+b") as fh:
            fh.seek(MiB)
            fh.write(secret)
        keep = node_dir / "still-linked"
        os.link(disk, keep)  # the inode stays readable after the delete: check it
        report = node.delete("vm")
    data = keep.read_bytes()
    assert b"TOP-SECRET" not in data and b"\x11" * 64 not in data
    if method == "zero":
        assert data.count(0) == len(data)
    (receipt,) = report.receipts
    assert receipt.method == method and receipt.verified and receipt.removed
    assert receipt.passes == (1 if method == "zero" else 3)
    assert receipt.bytes_overwritten >= MiB + len(secret) and all(receipt.sample_ok)
    assert Path(report.receipt_file).is_file()
    assert not (node_dir / "instances" / "vm").exists()


def test_volume_clear_none_and_clear_size(node_dir: Path, image_server: Server,
                                          image: str) -> None:
    with NodeManager(node_settings(node_dir, image_server.url, volume_clear="zero",
                                   volume_clear_size=1)) as node:
        disk = Path(node.spawn(SpawnRequest("vm", image)).disk("disk").path)
        keep = node_dir / "keep"
        os.link(disk, keep)
        (receipt,) = node.delete("vm").receipts
    assert receipt.clear_limit == MiB and receipt.bytes_overwritten <= MiB
    with NodeManager(node_settings(node_dir, image_server.url, volume_clear="none")) as node:
        disk = Path(node.spawn(SpawnRequest("vm2", image)).disk("disk").path)
        qemu_io(disk, "qcow2", "write -P 0x77 0 64k")
        keep2 = node_dir / "keep2"
        os.link(disk, keep2)
        (receipt,) = node.delete("vm2").receipts
    assert receipt.method == "none" and receipt.passes == 0 and not receipt.verified
    assert b"\x77" * 1024 in keep2.read_bytes()  # none means none


def test_clean_removes_old_unused_keeps_used_and_young(node_dir: Path, image_server: Server,
                                                       glance: object, image: str) -> None:
    with NodeManager(node_settings(node_dir, image_server.url,
                                   remove_unused_original_minimum_age_seconds=3600,
                                   remove_unused_resized_minimum_age_seconds=60)) as node:
        node.spawn(SpawnRequest("keeper", image, ))
        node.spawn(SpawnRequest("gone", image))
        root = node.ctx.cache.root
        used = base_name(image)
        os.utime(root / used, (OLD, OLD))
        resized = root / f"{used}_5"  # a legacy resized base nobody uses
        resized.write_bytes(b"x")
        os.utime(resized, (OLD, OLD))
        young = root / ("0" * 40)
        young.write_bytes(b"y")
        report = node.cache_clean()
        assert report.in_use == [used] and report.verified == [used]
        assert resized.name in report.removed and not resized.exists()
        assert young.name in report.too_young and young.exists()
        node.delete("keeper")
        node.delete("gone")
        os.utime(root / used, (OLD, OLD))
        report = node.cache_clean()
        assert used in report.removed and not (root / used).exists()
        assert [e.name for e in node.cache_list()] == [young.name]


def test_a_spawn_racing_the_clean_up_wins(node_dir: Path, image_server: Server,
                                          image: str) -> None:
    """The base is old and unused when clean-up starts; a spawn holds it (shared lock) between
    finding it and recording its instance. Clean-up must leave it, and the spawn succeeds."""
    settings = node_settings(node_dir, image_server.url,
                             remove_unused_original_minimum_age_seconds=1)
    with NodeManager(settings) as node:
        node.spawn(SpawnRequest("first", image))
        node.delete("first")
        name = base_name(image)
        os.utime(node.ctx.cache.root / name, (OLD, OLD))
        entered, release = threading.Event(), threading.Event()
        real_use = node.ctx.cache.use

        def slow_use(*args, **kwargs):  # type: ignore[no-untyped-def]
            cm = real_use(*args, **kwargs)

            class Wrapped:
                def __enter__(self):  # type: ignore[no-untyped-def]
                    value = cm.__enter__()
                    entered.set()
                    release.wait(30)
                    return value

                def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                    return cm.__exit__(*exc)

            return Wrapped()

        node.ctx.cache.use = slow_use  # type: ignore[method-assign]
        result: dict[str, object] = {}
        spawner = threading.Thread(target=lambda: result.update(
            record=node.spawn(SpawnRequest("racer", image))))
        spawner.start()
        assert entered.wait(30)
        os.utime(node.ctx.cache.root / name, (OLD, OLD))  # as old as it gets while held
        report = node.cache_clean(verify=False)
        release.set()
        spawner.join(30)
        assert name in report.busy and name not in report.removed
        assert "record" in result and (node.ctx.cache.root / name).exists()
        assert node.instance("racer").bases == (name,)
