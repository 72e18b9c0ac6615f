"""RBD-specific behaviour, checked against a real Ceph cluster (and its ``rbd`` CLI).

What the conformance suite cannot see: the image and its protected ``snap`` in Ceph, Glance
locations, clone children blocking deletes, allocation, resize-on-write, crash leftovers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from cowshed.backends.rbd import RbdBackend
from cowshed.dev.ceph import DevCephCluster
from cowshed.errors import (
    AlreadyExists,
    BackendUnavailable,
    InUse,
    InvalidRequest,
    NotFound,
)
from tests.integration.conftest import rbd_options

pytestmark = pytest.mark.ceph

MiB = 1 << 20
ZERO_FSID = "00000000-0000-0000-0000-000000000000"


def rbd_cli(cluster: DevCephCluster, *args: str) -> Any:
    """Run an ``rbd`` query (ls, info, du, snap ls) against the dev cluster; parsed JSON."""
    proc = subprocess.run(
        ["rbd", "-c", str(cluster.conf_path), "--format", "json", *args],
        check=True, capture_output=True, text=True,
    )
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def rbd_do(cluster: DevCephCluster, *args: str) -> None:
    """Run an ``rbd`` action (create, snap create…) against the dev cluster."""
    subprocess.run(["rbd", "-c", str(cluster.conf_path), *args], check=True, capture_output=True)


def rbd_ls(cluster: DevCephCluster, pool: str = "images") -> list[str]:
    return [str(name) for name in rbd_cli(cluster, "ls", pool)]


def incoming_for(cluster: DevCephCluster, key: str, pool: str = "images") -> list[str]:
    return [n for n in rbd_ls(cluster, pool) if n.startswith(f".incoming.{key}.")]


def put(backend: RbdBackend, key: str, data: bytes, size_hint: int | None = None) -> None:
    writer = backend.open_writer(key, len(data) if size_hint is None else size_hint)
    for i in range(0, len(data), MiB):
        writer.write(data[i : i + MiB])
    writer.commit()


def get(backend: RbdBackend, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(backend.open_read(key, offset, length))


def new_key() -> str:
    return str(uuid.uuid4())


# -- what a committed object is in Ceph ------------------------------------------------------------


def test_object_is_an_rbd_image_with_protected_snap(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    key = new_key()
    put(rbd_backend, key, os.urandom(10 * MiB + 3))
    info = rbd_cli(ceph_cluster, "info", f"images/{key}")
    assert info["size"] == 10 * MiB + 3
    assert info["format"] == 2
    assert info["object_size"] == 8 * MiB  # rbd_store_chunk_size 8 → order 23
    assert "layering" in info["features"]
    snaps = rbd_cli(ceph_cluster, "snap", "ls", f"images/{key}")
    assert [(s["name"], s["protected"]) for s in snaps] == [("snap", "true")]
    assert key in rbd_ls(ceph_cluster)
    assert not incoming_for(ceph_cluster, key)


def test_location_is_glance_form_with_real_fsid(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    key = new_key()
    writer = rbd_backend.open_writer(key, 1)
    writer.write(b"x")
    stored = writer.commit()
    assert ceph_cluster.fsid and ceph_cluster.fsid != ZERO_FSID
    assert stored.location == f"rbd://{ceph_cluster.fsid}/images/{key}/snap"
    assert rbd_backend.location(key) == stored.location
    assert rbd_backend.describe() == {
        "pool": "images", "chunk_size": 8 * MiB, "thin_provisioning": True,
        "fsid": ceph_cluster.fsid,
    }


# -- deletes and clones ---------------------------------------------------------------------------


def test_delete_with_clone_child_is_in_use_and_changes_nothing(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    src, dst = new_key(), new_key()
    data = os.urandom(12 * MiB)
    put(rbd_backend, src, data)
    child = rbd_backend.clone(src, "snap", dst)
    assert child.location == f"rbd://{ceph_cluster.fsid}/images/{dst}"
    assert child.size == len(data)
    with pytest.raises(InUse):
        rbd_backend.delete(src)
    with pytest.raises(InUse):
        rbd_backend.delete_snapshot(src, "snap")
    # Everything intact: image, protected snapshot, data, and the child's data.
    snaps = rbd_cli(ceph_cluster, "snap", "ls", f"images/{src}")
    assert [(s["name"], s["protected"]) for s in snaps] == [("snap", "true")]
    assert get(rbd_backend, src) == data
    assert get(rbd_backend, dst) == data
    assert rbd_cli(ceph_cluster, "info", f"images/{dst}")["parent"]["image"] == src

    rbd_backend.delete(dst)
    rbd_backend.delete(src)
    names = rbd_ls(ceph_cluster)
    assert src not in names and dst not in names
    with pytest.raises(NotFound):
        rbd_backend.delete(src)


def test_clone_flatten_then_parent_can_go(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    src, dst = new_key(), new_key()
    data = os.urandom(9 * MiB)
    put(rbd_backend, src, data)
    rbd_backend.clone(src, "snap", dst)
    rbd_backend.flatten(dst)
    rbd_backend.flatten(dst)  # a non-clone: no-op
    assert "parent" not in rbd_cli(ceph_cluster, "info", f"images/{dst}")
    rbd_backend.delete(src)
    assert get(rbd_backend, dst) == data
    # Nova's direct snapshot: the flattened clone becomes an image once it has ``snap``.
    rbd_backend.create_snapshot(dst, "snap")
    with pytest.raises(AlreadyExists):
        rbd_backend.create_snapshot(dst, "snap")
    snaps = rbd_cli(ceph_cluster, "snap", "ls", f"images/{dst}")
    assert [(s["name"], s["protected"]) for s in snaps] == [("snap", "true")]
    rbd_backend.delete(dst)
    assert dst not in rbd_ls(ceph_cluster)


def test_snapshot_errors(rbd_backend: RbdBackend) -> None:
    key = new_key()
    put(rbd_backend, key, b"abc")
    with pytest.raises(NotFound):
        rbd_backend.delete_snapshot(key, "nope")
    with pytest.raises(NotFound):
        rbd_backend.clone(key, "nope", new_key())
    with pytest.raises(NotFound):
        rbd_backend.create_snapshot(new_key(), "s")
    with pytest.raises(InvalidRequest):
        rbd_backend.create_snapshot(key, "bad@name")
    other = new_key()
    put(rbd_backend, other, b"x")
    with pytest.raises(AlreadyExists):
        rbd_backend.clone(key, "snap", other)


# -- allocation and the write path ----------------------------------------------------------------


def test_half_zero_image_allocates_half(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    key = new_key()
    writer = rbd_backend.open_writer(key, 64 * MiB)
    for _ in range(4):
        writer.write(os.urandom(8 * MiB))
        writer.write(bytes(8 * MiB))
    writer.commit()
    info = rbd_backend.stat(key)
    assert info.size == 64 * MiB
    assert info.allocated == 32 * MiB
    du = rbd_cli(ceph_cluster, "du", f"images/{key}")
    used = {entry.get("snapshot"): entry["used_size"] for entry in du["images"]}
    assert used["snap"] == 32 * MiB


def test_not_thin_writes_zeros(ceph_cluster: DevCephCluster) -> None:
    options = {**rbd_options(ceph_cluster), "rbd_thin_provisioning": False}
    backend = RbdBackend.from_options("thick", options)
    try:
        assert not backend.capabilities.thin
        key = new_key()
        put(backend, key, bytes(16 * MiB))
        assert backend.stat(key).allocated == 16 * MiB
        assert get(backend, key, 5 * MiB, 10) == bytes(10)
    finally:
        backend.close()


def test_unknown_size_write_grows_by_doubling_and_trims(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    key = new_key()
    data = os.urandom(41 * MiB + 5)
    writer = rbd_backend.open_writer(key, None)
    for i in range(0, 41 * MiB, MiB):
        writer.write(data[i : i + MiB])
    # 5 whole chunks sent: the image grew 8 → 16 → 32 → 64 MiB (steps double, as glance_store).
    (temp,) = incoming_for(ceph_cluster, key)
    assert rbd_cli(ceph_cluster, "info", f"images/{temp}")["size"] == 64 * MiB
    writer.write(data[41 * MiB :])
    stored = writer.commit()
    assert stored.size == len(data)
    assert rbd_cli(ceph_cluster, "info", f"images/{key}")["size"] == len(data)
    assert get(rbd_backend, key) == data
    assert not incoming_for(ceph_cluster, key)


def test_size_hint_too_small_grows(rbd_backend: RbdBackend) -> None:
    key = new_key()
    data = os.urandom(20 * MiB)
    put(rbd_backend, key, data, size_hint=MiB)
    assert rbd_backend.stat(key).size == len(data)
    assert get(rbd_backend, key) == data


def test_abort_leaves_nothing_in_ceph(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    key = new_key()
    writer = rbd_backend.open_writer(key, None)
    writer.write(os.urandom(20 * MiB))
    assert len(incoming_for(ceph_cluster, key)) == 1
    writer.abort()
    writer.abort()
    assert not incoming_for(ceph_cluster, key)
    assert key not in rbd_ls(ceph_cluster)
    with pytest.raises(InvalidRequest):
        writer.write(b"more")


def test_racing_writers_second_commit_loses_cleanly(
    ceph_cluster: DevCephCluster, rbd_backend: RbdBackend
) -> None:
    key = new_key()
    first, second = rbd_backend.open_writer(key, 3), rbd_backend.open_writer(key, 3)
    first.write(b"one")
    second.write(b"two")
    first.commit()
    with pytest.raises(AlreadyExists):
        second.commit()
    assert get(rbd_backend, key) == b"one"
    assert not incoming_for(ceph_cluster, key)


def test_parallel_writers_share_one_backend(rbd_backend: RbdBackend) -> None:
    blobs = {new_key(): os.urandom(17 * MiB + i) for i in range(4)}
    errors: list[BaseException] = []

    def work(key: str, data: bytes) -> None:
        try:
            put(rbd_backend, key, data)
            assert get(rbd_backend, key) == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=item) for item in blobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


class _SpyImage:
    """Wraps a writer's ``rbd.Image``; records ``(id(data), offset, length)`` of each aio_write."""

    def __init__(self, image: Any) -> None:
        self.image = image
        self.writes: list[tuple[int, int, int]] = []

    def aio_write(self, data: Any, offset: int, oncomplete: Any) -> Any:
        self.writes.append((id(data), offset, len(data)))
        return self.image.aio_write(data, offset, oncomplete)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.image, name)


def spy_on(writer: Any) -> _SpyImage:
    spy = _SpyImage(writer._image)
    writer._image = spy
    return spy


def test_aligned_blocks_pass_through_mixed_with_buffered_ones(rbd_backend: RbdBackend) -> None:
    """Whole chunks at a chunk boundary go to aio_write as the caller's own object (no copy);
    other blocks go through the chunk buffer. Mixed, the bytes read back are the bytes written,
    zero regions of a passed block are still skipped, and a caller may refill its bytearray as
    soon as ``write`` returns."""
    chunk = 8 * MiB
    reused = bytearray(os.urandom(chunk))
    one, two, half_zero = os.urandom(chunk), os.urandom(2 * chunk), os.urandom(chunk) + bytes(chunk)
    blocks: list[bytes | memoryview] = [
        one,                                       # passed at 0
        memoryview(reused),                        # passed at 8 MiB: the bytearray itself
        os.urandom(3 * MiB),                       # buffered…
        memoryview(os.urandom(6 * MiB))[MiB:],     # …a slice, buffered; completes the chunk
        two,                                       # passed at 24 MiB, one 16 MiB write
        half_zero,                                 # passed at 40 MiB; only its data half written
        os.urandom(5 * chunk),                     # more than the in-flight bound: buffered
        os.urandom(chunk + 1),                     # not whole chunks: buffered
        os.urandom(chunk),                         # whole, but off a chunk boundary: buffered
        b"tail",
    ]
    key = new_key()
    writer = rbd_backend.open_writer(key, None)  # unknown size: the image grows under them
    spy = spy_on(writer)
    expected = bytearray()
    for block in blocks:
        expected += block
        writer.write(block)
        if block is blocks[1]:
            reused[:] = os.urandom(chunk)  # librbd has its copy: refilling changes nothing
    writer.commit()
    assert get(rbd_backend, key) == expected
    info = rbd_backend.stat(key)
    assert (info.size, info.allocated) == (len(expected), len(expected) - chunk)
    passed = {id(one): 0, id(reused): chunk, id(two): 3 * chunk}
    assert [(o, n) for i, o, n in spy.writes if i in passed] == [
        (0, chunk), (chunk, chunk), (3 * chunk, 2 * chunk)]
    assert (5 * chunk, chunk) in [(o, n) for _, o, n in spy.writes]  # half_zero's data half
    assert all(o % chunk == 0 for _, o, _ in spy.writes)
    assert all(n <= 2 * chunk for _, _, n in spy.writes)


def test_pass_through_keeps_the_write_bound(ceph_cluster: DevCephCluster) -> None:
    """With one write in flight allowed, a two-chunk block is cut into chunk writes."""
    backend = RbdBackend.from_options(
        "serial", {**rbd_options(ceph_cluster), "rbd_write_concurrency": 1})
    try:
        key, data = new_key(), os.urandom(16 * MiB)
        writer = backend.open_writer(key, len(data))
        spy = spy_on(writer)
        writer.write(data)
        writer.commit()
        assert [(o, n) for _, o, n in spy.writes] == [(0, 8 * MiB), (8 * MiB, 8 * MiB)]
        assert get(backend, key) == data
    finally:
        backend.close()


def test_reads_are_piece_aligned_after_the_first(rbd_backend: RbdBackend) -> None:
    from cowshed.backends.rbd._reader import READ_PIECE

    key = new_key()
    data = os.urandom(40 * MiB)
    put(rbd_backend, key, data)
    offset, length = 3 * MiB + 1, 30 * MiB
    pieces = list(rbd_backend.open_read(key, offset, length))
    assert b"".join(pieces) == data[offset : offset + length]
    assert len(pieces[0]) == READ_PIECE - offset % READ_PIECE
    assert all(len(p) == READ_PIECE for p in pieces[1:-1])
    assert get(rbd_backend, key, len(data) + 10) == b""
    with pytest.raises(InvalidRequest):
        rbd_backend.open_read(key, -1)
    abandoned = rbd_backend.open_read(key)
    assert isinstance(abandoned, Generator)
    assert len(next(abandoned)) == READ_PIECE
    abandoned.close()  # waits for the queued reads, then closes the image


def test_extend_grows_head(ceph_cluster: DevCephCluster, rbd_backend: RbdBackend) -> None:
    key = new_key()
    put(rbd_backend, key, b"abc")
    rbd_backend.extend(key, 10 * MiB)
    assert rbd_cli(ceph_cluster, "info", f"images/{key}")["size"] == 10 * MiB
    assert get(rbd_backend, key, 0, 4) == b"abc\0"


# -- crash leftovers ------------------------------------------------------------------------------

_CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from cowshed.backends.rbd import RbdBackend
    conf, pool, key = sys.argv[1:4]
    backend = RbdBackend.from_options("ceph", {"rbd_store_ceph_conf": conf, "rbd_store_pool": pool})
    writer = backend.open_writer(key, None)
    writer.write(os.urandom(20 << 20))
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_cleanup_removes_crashed_writers_but_not_live_ones(
    ceph_cluster: DevCephCluster, fresh_pool: str
) -> None:
    backend = RbdBackend.from_options("ceph", rbd_options(ceph_cluster, fresh_pool))
    try:
        crashed = new_key()
        proc = subprocess.run(
            [sys.executable, "-c", _CRASHING_WRITER, str(ceph_cluster.conf_path), fresh_pool,
             crashed], capture_output=True, text=True, timeout=60, check=False,
        )
        assert proc.returncode == -9, proc.stderr
        assert len(incoming_for(ceph_cluster, crashed, fresh_pool)) == 1
        assert not backend.exists(crashed)
        assert crashed not in set(backend.keys())

        # A crash between "protect snap" and the rename: an incoming image with a protected snap.
        half_done = f".incoming.{new_key()}.0123456789ab"
        rbd_do(ceph_cluster, "create", f"{fresh_pool}/{half_done}", "--size", "8M")
        rbd_do(ceph_cluster, "snap", "create", f"{fresh_pool}/{half_done}@snap")
        rbd_do(ceph_cluster, "snap", "protect", f"{fresh_pool}/{half_done}@snap")

        live = new_key()
        live_writer = backend.open_writer(live, None)
        live_writer.write(os.urandom(9 * MiB))

        # The crashed client's watch expires after osd_client_watch_timeout (10 s in dev).
        removed = backend.cleanup_incomplete()
        deadline = time.monotonic() + 60
        while incoming_for(ceph_cluster, crashed, fresh_pool) and time.monotonic() < deadline:
            time.sleep(1)
            removed += backend.cleanup_incomplete()
        assert removed == 2
        assert rbd_ls(ceph_cluster, fresh_pool) == incoming_for(ceph_cluster, live, fresh_pool)
        live_writer.write(b"tail")
        assert live_writer.commit().size == 9 * MiB + 4
        assert rbd_ls(ceph_cluster, fresh_pool) == [live]
    finally:
        backend.close()


# -- connection problems --------------------------------------------------------------------------


def test_missing_pool_is_unavailable_not_not_found(ceph_cluster: DevCephCluster) -> None:
    backend = RbdBackend.from_options("ceph", rbd_options(ceph_cluster, "no-such-pool"))
    try:
        with pytest.raises(BackendUnavailable, match="no-such-pool"):
            backend.exists("x")
    finally:
        backend.close()


def test_unreachable_monitor_times_out(tmp_path: Path, ceph_cluster: DevCephCluster) -> None:
    conf = tmp_path / "ceph.conf"
    conf.write_text(
        "[global]\nmon host = v1:127.0.0.1:9\nauth cluster required = none\n"
        "auth service required = none\nauth client required = none\n"
    )
    backend = RbdBackend.from_options(
        "ceph", {"rbd_store_ceph_conf": str(conf), "rados_connect_timeout": 2}
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        backend.describe()
    assert time.monotonic() - started < 15
    backend.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        backend.exists("x")


# -- configuration and error translation (no cluster needed) ---------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rbd_store_chunksize": 8}, "unknown option"),
        ({"rbd_store_chunk_size": "8"}, "rbd_store_chunk_size"),
        ({"rbd_store_chunk_size": True}, "boolean"),
        ({"rbd_store_chunk_size": 0}, "rbd_store_chunk_size"),
        ({"rbd_store_chunk_size": 64}, "rbd_store_chunk_size"),
        ({"rbd_write_concurrency": 0}, "rbd_write_concurrency"),
        ({"rados_connect_timeout": -2}, "rados_connect_timeout"),
        ({"rbd_store_pool": ""}, "rbd_store_pool"),
        ({"rbd_store_user": 5}, "rbd_store_user"),
        ({"rbd_thin_provisioning": "yes"}, "rbd_thin_provisioning"),
    ],
)
def test_config_errors(options: dict[str, object], message: str) -> None:
    from cowshed.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        RbdBackend.from_options("ceph", options)


def test_config_defaults_and_derived_values() -> None:
    from cowshed.backends.rbd import RbdConfig

    config = RbdConfig.from_options("ceph", {})
    assert (config.rbd_store_pool, config.rbd_store_user, config.rbd_store_ceph_conf) == (
        "images", None, "")
    assert config.rbd_thin_provisioning is True
    assert (config.order, config.chunk_bytes) == (23, 8 * MiB)
    assert config.rados_conf() == {}
    odd = RbdConfig.from_options("ceph", {"rbd_store_chunk_size": 3, "rados_connect_timeout": 0})
    assert (odd.order, odd.chunk_bytes) == (21, 2 * MiB)  # rounded down to a power of two
    assert odd.rados_conf() == {
        "rados_osd_op_timeout": "0", "rados_mon_op_timeout": "0", "client_mount_timeout": "0"}


def test_library_errors_are_translated(ceph_cluster: DevCephCluster) -> None:
    """Real exception classes of the bindings (no cluster call can raise NoSpace on demand)."""
    import errno
    import importlib

    from cowshed.backends.rbd import map_rbd_errors
    from cowshed.errors import CowshedError, Forbidden, StorageFull

    rados, rbd = importlib.import_module("rados"), importlib.import_module("rbd")
    cases: list[tuple[BaseException, type[CowshedError]]] = [
        (rbd.NoSpace("full", errno=errno.ENOSPC), StorageFull),
        (rbd.DiskQuotaExceeded("quota", errno=errno.EDQUOT), StorageFull),
        (rbd.ImageBusy("busy", errno=errno.EBUSY), InUse),
        (rbd.ImageHasSnapshots("snaps", errno=errno.ENOTEMPTY), InUse),
        (rbd.ImageNotFound("gone", errno=errno.ENOENT), NotFound),
        (rbd.ImageExists("dup", errno=errno.EEXIST), AlreadyExists),
        (rbd.PermissionError("caps", errno=errno.EPERM), Forbidden),
        (rbd.Timeout("slow", errno=errno.ETIMEDOUT), BackendUnavailable),
        (rados.ObjectNotFound("gone", errno=errno.ENOENT), NotFound),
        (rados.TimedOut("slow", errno=errno.ETIMEDOUT), BackendUnavailable),
        (rbd.IncompleteWriteError("short"), BackendUnavailable),
    ]
    for exc, expected in cases:
        with pytest.raises(expected) as caught, map_rbd_errors("doing x"):
            raise exc
        assert caught.value.__cause__ is exc
        assert caught.value.message.startswith("doing x: ")
    with pytest.raises(KeyError), map_rbd_errors("doing x"):
        raise KeyError("not a Ceph error")


class _ReadSpy:
    """Wraps an open ``rbd.Image``; records each aio_read and the most reads in flight."""

    def __init__(self, image: Any) -> None:
        self.image = image
        self.reads: list[tuple[int, int]] = []
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def aio_read(self, offset: int, length: int, oncomplete: Any) -> Any:
        def done(completion: Any, data: Any) -> None:
            with self._lock:
                self.in_flight -= 1
            oncomplete(completion, data)
        with self._lock:
            self.reads.append((offset, length))
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        return self.image.aio_read(offset, length, done)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.image, name)


def test_reads_are_aligned_pieces_with_bounded_readahead(rbd_backend: RbdBackend) -> None:
    """Reads go out as READ_PIECE pieces aligned to it (never straddling an object), at most
    READAHEAD_BYTES queued; any range reads back exactly."""
    from cowshed.backends.rbd import _reader

    data = os.urandom(40 * MiB + 12345)
    key = str(uuid.uuid4())
    writer = rbd_backend.open_writer(key, len(data))
    writer.write(data)
    writer.commit()
    piece, most = _reader.READ_PIECE, _reader.READAHEAD_BYTES // _reader.READ_PIECE
    for offset, length in ((0, None), (3 * MiB + 7, 20 * MiB), (len(data) - 5, None)):
        image = rbd_backend._lib.rbd.Image(rbd_backend._cluster.ioctx(), key, read_only=True)
        spy = _ReadSpy(image)
        end = len(data) if length is None else offset + length
        got = b"".join(_reader.read_chunks(spy, offset, end, 8 * MiB, "test read"))
        assert got == data[offset:end]
        assert all(n <= piece and o // piece == (o + n - 1) // piece for o, n in spy.reads)
        assert all(o % piece == 0 for o, _ in spy.reads[1:])
        assert spy.most <= most
        if end - offset > 2 * _reader.READAHEAD_BYTES:
            assert spy.most == most  # the queue does fill
    assert b"".join(rbd_backend.open_read(key, MiB, 2 * MiB)) == data[MiB:3 * MiB]
