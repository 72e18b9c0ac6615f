"""A store on a full filesystem: 413, the image back to queued, nothing left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration._server import Server, create_image, raw_exchange, upload_ok

MiB = 1 << 20


#: bytes of the small filesystem: smaller than the uploads below, bigger than what must fit.
SMALL_FS = 32 * MiB


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _mount_tmpfs(mnt: Path, scratch: Path) -> str | None:
    done = _run("mount", "-t", "tmpfs", "-o", f"size={SMALL_FS}", "tmpfs", str(mnt))
    return None if done.returncode == 0 else f"tmpfs: {done.stderr.strip()}"


def _ext4_image(scratch: Path) -> tuple[Path, str | None]:
    """A SMALL_FS-sized ext4 image file (made once), and why it could not be made."""
    image = scratch / "small.ext4"
    if image.exists():
        return image, None
    with image.open("wb") as fh:
        fh.truncate(SMALL_FS)
    made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    return image, None if made.returncode == 0 else f"mkfs.ext4: {made.stderr.strip()}"


def _mount_loop_ext4(mnt: Path, scratch: Path) -> str | None:
    """An ext4 image file on a loop device (where tmpfs mounts are refused, e.g. by a
    container's mount policy, a loop device may still be allowed)."""
    image, failure = _ext4_image(scratch)
    if failure is not None:
        return failure
    done = _run("mount", "-o", "loop", str(image), str(mnt))
    return None if done.returncode == 0 else f"loop ext4: {done.stderr.strip()}"


def _mount_fuse2fs(mnt: Path, scratch: Path) -> str | None:
    """The same ext4 image through FUSE (e2fsprogs' fuse2fs), which needs no mount privilege,
    only /dev/fuse."""
    if shutil.which("fuse2fs") is None:
        return "fuse2fs: not installed (apt-get install fuse2fs)"
    image, failure = _ext4_image(scratch)
    if failure is not None:
        return failure
    done = _run("fuse2fs", "-o", "fakeroot", str(image), str(mnt))
    return None if done.returncode == 0 else f"fuse2fs: {done.stderr.strip()}"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB filesystem: tmpfs, else a loop-mounted ext4 image, else that image via FUSE.

    Skipped only where none of them can be made and we are not root; as root (CI) a failure
    to make one is a test failure, never a skip.
    """
    mnt, scratch = tmp_path / "small", tmp_path / "scratch"
    mnt.mkdir()
    scratch.mkdir()
    failures: list[str] = []
    for method in (_mount_tmpfs, _mount_loop_ext4, _mount_fuse2fs):
        failure = method(mnt, scratch)
        if failure is None:
            break
        failures.append(failure)
    else:
        reasons = "; ".join(failures)
        if os.geteuid() == 0:
            pytest.fail(f"root, yet no small filesystem could be made: {reasons}")
        pytest.skip(f"no small filesystem can be made here: {reasons}")
    try:
        yield mnt
    finally:
        if _run("umount", str(mnt)).returncode != 0 and \
                _run("fusermount", "-u", str(mnt)).returncode != 0:
            _run("umount", "-l", str(mnt))


@pytest.fixture
def server(tmp_path: Path, small_fs: Path) -> Iterator[Server]:
    store = small_fs / "images"
    config = tmp_path / "cowshed.toml"
    config.write_text(
        'default_backend = "file"\n\n'
        "[stores.file]\n"
        'type = "file"\n'
        f'filesystem_store_datadir = "{store}"\n'
    )
    srv = Server(tmp_path / "data", config)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def put_request(image_id: str, size: int, *, chunked: bool) -> Iterator[bytes]:
    # not zeros: the file store writes zero runs as holes, which would never fill the disk
    block = os.urandom(MiB)
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n")
    if chunked:
        yield (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        for _ in range(size // MiB):
            yield f"{MiB:x}\r\n".encode() + block + b"\r\n"
        yield b"0\r\n\r\n"
    else:
        yield (head + f"Content-Length: {size}\r\n\r\n").encode()
        for _ in range(size // MiB):
            yield block


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_bigger_than_the_store_is_413(server: Server, small_fs: Path,
                                            chunked: bool) -> None:
    store = small_fs / "images"
    with server.client() as client:
        image_id = create_image(client, name="too-big")
        resp = raw_exchange(server.port, put_request(image_id, 64 * MiB, chunked=chunked),
                            read_timeout=30)
        assert resp.status == 413, (resp, server.log()[-3000:])
        record = client.get(f"/v2/images/{image_id}").json()
        assert record["status"] == "queued"
        assert (record["size"], record["checksum"]) == (None, None)
        assert server.part_files(store) == []
        assert server.committed_files(store) == []
        # the space came back: a small image fits
        data = os.urandom(2 * MiB)
        upload_ok(client, image_id, data)
        assert server.committed_files(store) == [store / image_id]
        assert client.get("/versions").status_code == 200
    assert server.unexpected_errors() == []


def test_error_body_of_413(server: Server) -> None:
    with server.client() as client:
        image_id = create_image(client)
        resp = raw_exchange(server.port, put_request(image_id, 48 * MiB, chunked=False),
                            read_timeout=30)
        assert resp.status == 413
        # plain text (no Accept: application/json), webob's shape
        assert resp.body.startswith(b"413 Request Entity Too Large\n\n") or \
            resp.body.startswith(b"413 Content Too Large\n\n"), resp.body
        assert b"no space left" in resp.body.lower()
        assert client.get(f"/v2/images/{image_id}").json()["status"] == "queued"


# -- volumes on a full file store ---------------------------------------------------------------

V3 = "/volume/v3"


@pytest.fixture
def volume_server(tmp_path: Path, small_fs: Path) -> Iterator[Server]:
    """Images on the roomy temp filesystem, volumes (qcow2 files) on the small one."""
    config = tmp_path / "cowshed.toml"
    config.write_text(
        'default_backend = "file"\ndefault_volume_type = "local"\n\n'
        f'[stores.file]\ntype = "file"\nfilesystem_store_datadir = "{tmp_path / "images"}"\n\n'
        f'[volume_backends.local]\ntype = "file"\nvolumes_dir = "{small_fs / "volumes"}"\n')
    srv = Server(tmp_path / "data", config)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def _settled(client: httpx.Client, volume_id: str) -> str:
    """The volume's status once it is no longer being created."""
    deadline = time.monotonic() + 120
    while True:
        status = str(client.get(f"{V3}/volumes/{volume_id}").json()["volume"]["status"])
        if status not in ("creating", "downloading"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_volume_from_an_image_that_does_not_fit_is_error_and_leaves_nothing(
        volume_server: Server, small_fs: Path) -> None:
    volumes = small_fs / "volumes"
    data = os.urandom(48 * MiB)  # random: qcow2 cannot compress or skip it
    with volume_server.client(timeout=120) as client:
        image_id = create_image(client, name="big")
        upload_ok(client, image_id, data)
        resp = client.post(f"{V3}/volumes", json={"volume": {"size": 1, "imageRef": image_id}})
        assert resp.status_code == 202, resp.text
        volume_id = resp.json()["volume"]["id"]
        # Cinder's shape: the create was accepted, the volume ends in ``error``
        assert _settled(client, volume_id) == "error"
        assert _files(volumes) == [], _files(volumes)  # no partial qcow2, no temp file
        # the space came back: a blank volume fits, and the failed one deletes cleanly
        resp = client.post(f"{V3}/volumes", json={"volume": {"size": 1}})
        assert resp.status_code == 202, resp.text
        blank = resp.json()["volume"]["id"]
        assert _settled(client, blank) == "available"
        for vid in (volume_id, blank):
            assert client.delete(f"{V3}/volumes/{vid}").status_code == 202
        # the records go first (hidden), the files on the worker right after
        deadline = time.monotonic() + 60
        while client.get(f"{V3}/volumes").json()["volumes"] or _files(volumes):
            assert time.monotonic() < deadline, _files(volumes)
            time.sleep(0.1)
    assert volume_server.unexpected_errors() == []
