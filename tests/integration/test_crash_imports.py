"""SIGKILL a real server in the middle of interoperable imports; the restart must reconcile.

Covered: PUT stage, glance-direct import (with a qcow2 → raw conversion), web-download import
(download, conversion and store phases) and copy-image between two file stores. Each test
starts the operation, waits until the work is provably in flight (the ``.part`` file of the
phase it targets has passed a random fraction of the image, or ``qemu-img convert`` runs),
kills the server with SIGKILL (its qemu-img must die with it), restarts it on the same data
dir and checks every invariant (:func:`check_invariants`), then retries the same operation,
which must succeed with correct hashes. A loop of random-timed kills over mixed concurrent
operations follows.

Exact step boundaries (after a store commit, after ``add_location``, after the move to
``active``), which a random kill rarely hits, are crashed on purpose in a child process that
runs the library with one method patched to ``os._exit`` (as in ``test_crash_points``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api._import_fixtures import SourceServer
from tests.integration._server import Server

MiB = 1 << 20
#: random bytes: each phase (stream, qemu-img convert, store write) stays in flight for tens
#: to hundreds of milliseconds, plenty for the 2 ms polls that pick the kill point.
SIZE = 128 * MiB
#: the image used by the exact-point crashes: the window is exact, the size does not matter.
SMALL = 6 * MiB + 7 * 512  # qcow2 sizes are whole sectors
OCTET = {"Content-Type": "application/octet-stream"}
LOCK = "os_glance_import_task"
IMPORTING = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"
TERMINAL = ("success", "failure")
GLANCE_DIRECT = {"method": {"name": "glance-direct"}}
CRASH_EXIT = 77

Digests = tuple[str, str]


# -- payloads and the web-download source -----------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One disk in two forms: ``raw`` random bytes and the same disk as ``qcow2``."""

    raw: Path
    qcow2: Path
    #: md5 and sha512 of the raw bytes: what an active image must hold (store ``a`` converts).
    content: Digests
    #: digests of the qcow2 file: what a staged qcow2 must be.
    qcow2_file: Digests
    size: int

    def path(self, fmt: str) -> Path:
        return self.raw if fmt == "raw" else self.qcow2

    def staged(self, fmt: str) -> Digests:
        return self.content if fmt == "raw" else self.qcow2_file


_DIGESTS: dict[tuple[str, int, int, int], Digests] = {}


def file_digests(path: Path) -> Digests:
    """md5 and sha512 of a file, cached by inode, size and mtime (the copies never change)."""
    key = _stat_key(path)
    if key not in _DIGESTS:
        with path.open("rb") as fh:
            _DIGESTS[key] = _hash(iter(lambda: fh.read(8 * MiB), b""))
    return _DIGESTS[key]


def _hash(blocks: Iterator[bytes]) -> Digests:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    with ThreadPoolExecutor(1) as pool:  # hashlib drops the GIL: both digests at once
        for block in blocks:
            pending = pool.submit(md5.update, block)
            sha.update(block)
            pending.result()
    return md5.hexdigest(), sha.hexdigest()


def make_payload(root: Path, size: int, seed: int) -> Payload:
    root.mkdir(parents=True, exist_ok=True)
    raw, qcow2 = root / "disk.raw", root / "disk.qcow2"
    rng = random.Random(seed)
    with raw.open("wb") as fh:
        left = size
        while left:
            n = min(left, 4 * MiB)
            fh.write(rng.randbytes(n))
            left -= n
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
                   check=True, capture_output=True, timeout=120)
    return Payload(raw, qcow2, file_digests(raw), file_digests(qcow2), size)


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Payload:
    return make_payload(tmp_path_factory.mktemp("crash-import-src") / "big", SIZE, seed=11)


@pytest.fixture(scope="module")
def small(payload: Payload) -> Payload:
    return make_payload(payload.raw.parent.parent / "small", SMALL, seed=12)


@pytest.fixture(scope="module")
def source(payload: Payload, small: Payload) -> Iterator[SourceServer]:
    """Serves ``big/disk.raw``, ``big/disk.qcow2``, ``small/…`` for web-download."""
    with SourceServer(payload.raw.parent.parent) as server:
        yield server


# -- the server under test --------------------------------------------------------------------


@dataclass
class Rig:
    """A real ``cowshed serve`` with two file stores: ``a`` (default, converts to raw), ``b``."""

    server: Server
    stores: dict[str, Path]
    staging: Path
    source: SourceServer
    toml: Path

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.Client:
        return self.server.client(timeout=60)

    def uri(self, payload: Payload, fmt: str) -> str:
        return self.source.url(f"{payload.raw.parent.name}/{payload.path(fmt).name}")

    def parts(self, root: Path | None = None) -> list[Path]:
        roots = [root] if root is not None else [*self.stores.values(), self.staging]
        return [p for r in roots for p in self.server.part_files(r)]

    def part_size(self, root: Path) -> int:
        total = 0
        for part in self.parts(root):
            with contextlib.suppress(FileNotFoundError):
                total += part.stat().st_size
        return total

    def staged(self, image_id: str) -> Path:
        return self.staging / image_id

    def kill(self) -> None:
        """SIGKILL the server; any qemu-img it was running must die with it."""
        assert self.server.proc is not None
        children = _children(self.server.proc.pid)
        self.server.kill()
        # a qemu-img left running would keep converting into a file recovery removes (or
        # create it after recovery ran): it must get SIGKILL with its parent, at once
        deadline = time.monotonic() + 0.02
        alive = {c: _cmdline(c) for c in children if _running(c)}
        while alive and time.monotonic() < deadline:
            time.sleep(0.002)
            alive = {c: argv for c, argv in alive.items() if _running(c)}
        for pid, argv in alive.items():  # our server's children: stop them, then fail
            if _cmdline(pid) == argv:  # still the same process
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        assert not alive, f"{list(alive.values())} outlived the killed server"

    def converting(self) -> bool:
        """True while the server runs ``qemu-img convert``."""
        assert self.server.proc is not None
        return any("convert" in _cmdline(c) for c in _children(self.server.proc.pid))

    def restart(self) -> None:
        if self.server.alive():
            self.kill()
        self.server.start()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except FileNotFoundError:
        return []


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def write_config(root: Path, port: int) -> tuple[Path, dict[str, Path]]:
    stores = {"a": root / "store-a", "b": root / "store-b"}
    toml = root / "cowshed.toml"
    toml.write_text(
        f'default_backend = "a"\nallowed_ports = [{port}]\n'
        f'[stores.a]\ntype = "file"\nfilesystem_store_datadir = "{stores["a"]}"\n'
        f'convert_to = "raw"\n'
        f'[stores.b]\ntype = "file"\nfilesystem_store_datadir = "{stores["b"]}"\n')
    return toml, stores


@pytest.fixture
def rig(tmp_path: Path, source: SourceServer) -> Iterator[Rig]:
    toml, stores = write_config(tmp_path, source.port)
    server = Server(tmp_path / "data", toml)
    server.start()
    made = Rig(server, stores, server.data_dir / "staging", source, toml)
    try:
        yield made
    finally:
        server.kill()
    assert server.unexpected_errors() == []


@pytest.fixture
def rng() -> random.Random:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")  # shown on failure, to replay the same kill points
    return random.Random(seed)


# -- API helpers ------------------------------------------------------------------------------


def create(client: httpx.Client, disk_format: str = "raw") -> str:
    resp = client.post("/v2/images", json={"disk_format": disk_format,
                                           "container_format": "bare"})
    assert resp.status_code == 201, resp.text
    image_id: str = resp.json()["id"]
    return image_id


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(MiB):
            yield block


def put(url: str, path: Path) -> int | None:
    """PUT ``path`` to ``url``; the status, or None if the connection broke (a kill)."""
    with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=60) as client:
        headers = {**OCTET, "Content-Length": str(path.stat().st_size)}
        return client.put(url, content=chunks(path), headers=headers).status_code
    return None


def put_in_background(url: str, path: Path) -> threading.Thread:
    thread = threading.Thread(target=put, args=(url, path), daemon=True)
    thread.start()
    return thread


def stage(rig: Rig, image_id: str, path: Path) -> None:
    assert put(f"{rig.url}/v2/images/{image_id}/stage", path) == 204


def upload(rig: Rig, image_id: str, path: Path) -> None:
    assert put(f"{rig.url}/v2/images/{image_id}/file", path) == 204


def start_import(client: httpx.Client, image_id: str, body: dict[str, Any]) -> str:
    """POST import; the id of the task it created."""
    known = {t["id"] for t in tasks(client, image_id)}
    resp = client.post(f"/v2/images/{image_id}/import", json=body)
    assert resp.status_code == 202, resp.text
    new: list[str] = [t["id"] for t in tasks(client, image_id) if t["id"] not in known]
    assert len(new) == 1
    return new[0]


def tasks(client: httpx.Client, image_id: str) -> list[dict[str, Any]]:
    resp = client.get(f"/v2/images/{image_id}/tasks")
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["tasks"]
    return found


def wait_task(client: httpx.Client, task_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = client.get(f"/v2/tasks/{task_id}").json()
        if task["status"] in TERMINAL:
            return task
        assert time.monotonic() < deadline, f"task {task_id} did not finish: {task}"
        time.sleep(0.02)


def import_ok(client: httpx.Client, image_id: str, body: dict[str, Any]) -> dict[str, Any]:
    task = wait_task(client, start_import(client, image_id, body))
    assert task["status"] == "success", task["message"]
    image: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
    return image


def web(uri: str) -> dict[str, Any]:
    return {"method": {"name": "web-download", "uri": uri}}


def copy_to(*stores: str) -> dict[str, Any]:
    return {"method": {"name": "copy-image"}, "stores": list(stores)}


def db_task_status(server: Server, task_id: str) -> str | None:
    db = sqlite3.connect(f"file:{server.data_dir / 'cowshed.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
    finally:
        db.close()
    return None if row is None else str(row[0])


def kill_when(rig: Rig, ready: Callable[[], bool], busy: Callable[[], bool], what: str,
              timeout: float = 60) -> None:
    """SIGKILL the server as soon as ``ready()``; fail if the work ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert busy(), f"{what}: the work ended before the kill point"
        assert time.monotonic() < deadline, f"{what}: kill point not reached in {timeout}s"
        time.sleep(0.002)
    rig.kill()


def task_running(rig: Rig, task_id: str) -> Callable[[], bool]:
    return lambda: db_task_status(rig.server, task_id) not in TERMINAL


# -- the invariants ---------------------------------------------------------------------------


@dataclass
class Expect:
    """What the test knows about each image it made."""

    #: image id → digests its active data must have.
    content: dict[str, Digests] = field(default_factory=dict)
    #: image id → digests its staged file must have (while ``uploading``).
    staged: dict[str, Digests] = field(default_factory=dict)


def stream_digests(client: httpx.Client, image_id: str) -> tuple[int, Digests]:
    size = 0

    def blocks() -> Iterator[bytes]:
        nonlocal size
        with client.stream("GET", f"/v2/images/{image_id}/file") as resp:
            assert resp.status_code == 200, resp.status_code
            for block in resp.iter_bytes(8 * MiB):
                size += len(block)
                yield block

    digests = _hash(blocks())
    return size, digests


_SERVED: set[tuple[str, Digests, tuple[tuple[str, int, int, int], ...]]] = set()


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def check_invariants(rig: Rig, client: httpx.Client, expect: Expect) -> dict[str, dict[str, Any]]:
    """Everything a restart must guarantee; returns the images by id."""
    images = client.get("/v2/images?limit=1000").json()["images"]
    by_id: dict[str, dict[str, Any]] = {i["id"]: i for i in images}
    # no partial write anywhere: store or staging
    assert rig.parts() == []
    # no store holds data an image does not locate there
    for store, root in rig.stores.items():
        for path in rig.server.committed_files(root):
            owner = by_id.get(path.name)
            assert owner is not None, f"orphan {path.name} in store {store}"
            assert store in owner.get("stores", "").split(","), (
                f"store {store} holds {path.name} without a location: {owner}")
    # staged data only for images waiting for their import
    for path in rig.server.committed_files(rig.staging):
        owner = by_id.get(path.name)
        assert owner is not None and owner["status"] == "uploading", (
            f"staged {path.name} of {owner}")
    for image in images:
        image_id, status = image["id"], image["status"]
        # the import lock and progress of an interrupted import are gone
        assert LOCK not in image, image
        assert image.get(IMPORTING, "") == "", image
        for task in tasks(client, image_id):
            assert task["status"] in TERMINAL, task
            if task["status"] == "failure":
                assert task["message"], task
            assert task["expires_at"] is not None, task
        located = [s for s in image.get("stores", "").split(",") if s]
        staged = rig.staged(image_id)
        if status == "active":
            assert located, image
            for store in located:
                stored = rig.stores[store] / image_id
                assert stored.stat().st_size == image["size"], (store, image)
                assert file_digests(stored) == (image["checksum"], image["os_hash_value"]), (
                    f"{store} copy of {image_id} does not match its record")
            assert image["os_hash_algo"] == "sha512"
            record = (image["checksum"], image["os_hash_value"])
            if image_id in expect.content:
                assert record == expect.content[image_id], f"{image_id} holds the wrong data"
            # what clients download; once per record and set of files (restarts change neither)
            served = (image_id, record, tuple(_stat_key(rig.stores[s] / image_id)
                                              for s in located))
            if served not in _SERVED:
                assert stream_digests(client, image_id) == (image["size"], record), image
                _SERVED.add(served)
        elif status == "uploading":
            assert located == [], image
            assert staged.is_file(), f"uploading without staged data: {image}"
            assert image_id in expect.staged, image
            assert file_digests(staged) == expect.staged[image_id], "staged data is damaged"
        else:
            assert status == "queued", image
            assert located == [] and not staged.exists(), image
            assert (image["size"], image["checksum"], image["os_hash_value"]) == (
                None, None, None), image
            assert client.get(f"/v2/images/{image_id}/file").status_code == 204
    return by_id


def interrupted_task(client: httpx.Client, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = client.get(f"/v2/tasks/{task_id}").json()
    assert task["status"] == "failure", task
    assert "restart" in task["message"], task
    return task


def failed_stores(image: dict[str, Any]) -> set[str]:
    return {s for s in image.get(FAILED, "").split(",") if s}


# -- one operation, one kill ------------------------------------------------------------------


def test_kill_during_stage(rig: Rig, payload: Payload, rng: random.Random) -> None:
    expect = Expect()
    with rig.client() as client:
        image_id = create(client)
    thread = put_in_background(f"{rig.url}/v2/images/{image_id}/stage", payload.raw)
    threshold = rng.randrange(payload.size // 10, payload.size * 7 // 10)
    kill_when(rig, lambda: rig.part_size(rig.staging) >= threshold, thread.is_alive, "stage")
    thread.join(30)
    assert rig.server.db_status(image_id) == "uploading"
    assert rig.parts(rig.staging), "the kill left no partial stage: the test proves nothing"

    rig.restart()
    with rig.client() as client:
        assert check_invariants(rig, client, expect)[image_id]["status"] == "queued"
        # retry: stage again, then import what was staged
        stage(rig, image_id, payload.raw)
        expect.staged[image_id] = payload.content
        assert check_invariants(rig, client, expect)[image_id]["status"] == "uploading"
        image = import_ok(client, image_id, GLANCE_DIRECT)
        assert (image["status"], image["stores"]) == ("active", "a")
        expect.content[image_id] = payload.content
        check_invariants(rig, client, expect)


def test_kill_after_stage_keeps_the_staged_data(rig: Rig, small: Payload) -> None:
    """Killed once staging is complete: the image waits, ``uploading``, for its import."""
    expect = Expect()
    with rig.client() as client:
        image_id = create(client, "qcow2")
        stage(rig, image_id, small.qcow2)
        expect.staged[image_id] = small.qcow2_file
    rig.restart()
    with rig.client() as client:
        assert check_invariants(rig, client, expect)[image_id]["status"] == "uploading"
        image = import_ok(client, image_id, GLANCE_DIRECT)
        assert (image["disk_format"], image["virtual_size"]) == ("raw", small.size)
        expect.content[image_id] = small.content
        check_invariants(rig, client, expect)


@pytest.mark.parametrize("phase", ["convert", "store"])
def test_kill_during_glance_direct_import(rig: Rig, payload: Payload, rng: random.Random,
                                         phase: str) -> None:
    """qcow2 staged, imported into store ``a`` (convert_to raw): killed while qemu-img converts
    or while the converted bytes are written into the store."""
    expect = Expect()
    with rig.client() as client:
        image_id = create(client, "qcow2")
        stage(rig, image_id, payload.qcow2)
        task_id = start_import(client, image_id, GLANCE_DIRECT)
    if phase == "convert":
        ready = rig.converting
    else:
        threshold = rng.randrange(payload.size // 10, payload.size * 7 // 10)
        ready = lambda: rig.part_size(rig.stores["a"]) >= threshold  # noqa: E731
    kill_when(rig, ready, task_running(rig, task_id), f"glance-direct {phase}")
    assert rig.server.db_status(image_id) == "importing"
    # (the convert phase is proven by the qemu-img child seen running)
    assert phase == "convert" or rig.parts(), "the kill left no partial write"

    rig.restart()
    with rig.client() as client:
        image = check_invariants(rig, client, expect)[image_id]
        assert image["status"] == "queued"
        assert failed_stores(image) == {"a"}
        interrupted_task(client, task_id)
        # retry: the staged data went with the failed import (Glance: back to queued)
        stage(rig, image_id, payload.qcow2)
        image = import_ok(client, image_id, GLANCE_DIRECT)
        assert (image["status"], image["stores"], image["disk_format"]) == ("active", "a", "raw")
        assert failed_stores(image) == set()
        expect.content[image_id] = payload.content
        check_invariants(rig, client, expect)


@pytest.mark.parametrize("phase", ["download", "convert", "store"])
def test_kill_during_web_download(rig: Rig, payload: Payload, rng: random.Random,
                                  phase: str) -> None:
    expect = Expect()
    with rig.client() as client:
        image_id = create(client, "qcow2")
        task_id = start_import(client, image_id, web(rig.uri(payload, "qcow2")))
    threshold = rng.randrange(payload.size // 10, payload.size * 7 // 10)

    def ready() -> bool:
        if phase == "download":
            return rig.part_size(rig.staging) >= threshold and not rig.staged(image_id).exists()
        if phase == "convert":
            return rig.converting()
        return rig.part_size(rig.stores["a"]) >= threshold

    kill_when(rig, ready, task_running(rig, task_id), f"web-download {phase}")
    assert rig.server.db_status(image_id) == "importing"
    assert phase == "convert" or rig.parts(), "the kill left no partial write"

    rig.restart()
    with rig.client() as client:
        image = check_invariants(rig, client, expect)[image_id]
        assert image["status"] == "queued"
        assert failed_stores(image) == {"a"}
        interrupted_task(client, task_id)
        image = import_ok(client, image_id, web(rig.uri(payload, "qcow2")))
        assert (image["status"], image["stores"], image["disk_format"]) == ("active", "a", "raw")
        expect.content[image_id] = payload.content
        check_invariants(rig, client, expect)


def test_kill_during_copy_image(rig: Rig, payload: Payload, rng: random.Random) -> None:
    expect = Expect()
    with rig.client() as client:
        image_id = create(client)
        upload(rig, image_id, payload.raw)
        expect.content[image_id] = payload.content
        task_id = start_import(client, image_id, copy_to("b"))
    threshold = rng.randrange(payload.size // 10, payload.size * 7 // 10)
    kill_when(rig, lambda: rig.part_size(rig.stores["b"]) >= threshold,
              task_running(rig, task_id), "copy-image")
    assert rig.parts(rig.stores["b"]), "the kill left no partial copy: the test proves nothing"

    rig.restart()
    with rig.client() as client:
        image = check_invariants(rig, client, expect)[image_id]
        # the source copy is untouched; the interrupted target is reported as failed
        assert (image["status"], image["stores"]) == ("active", "a")
        assert failed_stores(image) == {"b"}
        interrupted_task(client, task_id)
        image = import_ok(client, image_id, copy_to("b"))
        assert (image["status"], image["stores"]) == ("active", "a,b")
        assert failed_stores(image) == set()
        check_invariants(rig, client, expect)


# -- random kills over mixed operations -------------------------------------------------------


def test_random_kill_restart_cycles(rig: Rig, payload: Payload, small: Payload,
                                    rng: random.Random) -> None:
    """Five cycles: start a random mix of stage, glance-direct, web-download and copy-image
    on several images, SIGKILL at a random moment, restart, check every invariant. Finally
    every image is brought to active in both stores and checked once more."""
    expect = Expect()
    for _cycle in range(5):
        threads: list[threading.Thread] = []
        with rig.client() as client:
            images = {i["id"]: i for i in client.get("/v2/images?limit=1000").json()["images"]}
            ops = rng.sample(["stage", "web-download", "glance-direct", "copy-image"], k=3)
            for op in ops:
                source = payload if rng.random() < 0.6 else small
                fmt = rng.choice(["raw", "qcow2"])
                if op == "stage":
                    image_id = create(client, fmt)
                    expect.staged[image_id] = source.staged(fmt)
                    expect.content[image_id] = source.content
                    threads.append(put_in_background(
                        f"{rig.url}/v2/images/{image_id}/stage", source.path(fmt)))
                elif op == "web-download":
                    image_id = create(client, fmt)
                    expect.content[image_id] = source.content
                    start_import(client, image_id, web(rig.uri(source, fmt)))
                elif op == "glance-direct":
                    waiting = [i for i, v in images.items() if v["status"] == "uploading"]
                    if waiting:
                        start_import(client, rng.choice(waiting), GLANCE_DIRECT)
                else:
                    single = [i for i, v in images.items()
                              if v["status"] == "active" and v["stores"] == "a"]
                    if single:
                        start_import(client, rng.choice(single), copy_to("b"))
        time.sleep(rng.uniform(0.05, 1.2))
        rig.kill()
        for thread in threads:
            thread.join(30)
        rig.restart()
        with rig.client() as client:
            check_invariants(rig, client, expect)
    finish_everything(rig, expect, small)


def finish_everything(rig: Rig, expect: Expect, small: Payload) -> None:
    """Bring every image to active in both stores; each retry must succeed."""
    with rig.client() as client:
        images = client.get("/v2/images?limit=1000").json()["images"]
        started = []
        for image in images:
            image_id = image["id"]
            if image["status"] == "uploading":
                started.append(start_import(client, image_id, GLANCE_DIRECT))
            elif image["status"] == "queued":
                # the source of a retry may differ from the first attempt's
                expect.content[image_id] = small.content
                started.append(start_import(client, image_id,
                                            web(rig.uri(small, image["disk_format"]))))
        for task_id in started:
            assert wait_task(client, task_id)["status"] == "success"
        for image in client.get("/v2/images?limit=1000").json()["images"]:
            assert image["status"] == "active", image
            if image["stores"] == "a":
                started.append(start_import(client, image["id"], copy_to("b")))
        for task_id in started:
            assert wait_task(client, task_id)["status"] == "success"
        final = check_invariants(rig, client, expect)
        assert {(i["status"], i["stores"]) for i in final.values()} == {("active", "a,b")}


# -- exact step boundaries --------------------------------------------------------------------

CHILD = textwrap.dedent('''
    import asyncio, json, os, sys, time
    from cowshed.backends.file import _FileWriter
    from cowshed.config import load_settings
    from cowshed.db.repository import Repository
    from cowshed.services.app import open_services
    from cowshed.services.images.imports import ImportService

    data_dir, toml, point, method, qcow2, uri = sys.argv[1:7]

    def crash_after(cls, name, when=lambda *a, **k: True):
        original = getattr(cls, name)
        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            if when(*args, **kwargs):
                os._exit(77)
            return result
        setattr(cls, name, wrapper)

    def into(store):
        return lambda writer: writer._backend.name == store

    points = {
        "locked": lambda: crash_after(Repository, "claim_property"),
        "commit-a": lambda: crash_after(_FileWriter, "commit", into("a")),
        "commit-b": lambda: crash_after(_FileWriter, "commit", into("b")),
        "staged": lambda: crash_after(_FileWriter, "commit", into("os_glance_staging_store")),
        "add-location": lambda: crash_after(Repository, "add_location"),
        "active": lambda: crash_after(
            Repository, "set_status", lambda self, i, expect, new, **kw: new == "active"),
        "progress": lambda: crash_after(ImportService, "_progress"),
        "released": lambda: crash_after(Repository, "release_property"),
    }

    async def chunks():
        with open(qcow2, "rb") as fh:
            while block := fh.read(1 << 20):
                yield block

    def run(image_id, body):
        task = svc.imports.start(svc.admin_context(), image_id, body)
        while svc.deps.repo.get_task(task.id).status not in ("success", "failure"):
            time.sleep(0.01)
        assert svc.deps.repo.get_task(task.id).status == "success"

    svc = open_services(load_settings(data_dir=data_dir, config_file=toml, environ={}))
    image_id = svc.images.create(svc.admin_context(),
                                 {"disk_format": "qcow2", "container_format": "bare"}).id
    print(image_id, flush=True)
    direct = {"method": {"name": "glance-direct"}}
    if method != "web-download":
        asyncio.run(svc.imports.stage(svc.admin_context(), image_id, chunks(), os.path.getsize(qcow2)))
    if method == "copy-image":
        run(image_id, direct)
    body = {"glance-direct": direct, "web-download": {"method": {"name": "web-download",
            "uri": uri}}, "copy-image": {"method": {"name": "copy-image"}, "stores": ["b"]}}
    points[point]()
    run(image_id, body[method])
    sys.exit(0)  # the crash point was never reached
''')


@pytest.fixture
def cold_rig(tmp_path: Path, source: SourceServer) -> Iterator[Rig]:
    """A rig whose server is not running yet: a child process crashes on its data first."""
    toml, stores = write_config(tmp_path, source.port)
    server = Server(tmp_path / "data", toml)
    made = Rig(server, stores, server.data_dir / "staging", source, toml)
    try:
        yield made
    finally:
        server.kill()
    assert server.unexpected_errors() == []


@pytest.mark.parametrize(("method", "point", "after"), [
    ("glance-direct", "locked", "uploading"),
    ("glance-direct", "commit-a", "queued"),
    ("glance-direct", "add-location", "queued"),
    ("glance-direct", "active", "active"),
    ("glance-direct", "released", "active"),
    ("web-download", "staged", "queued"),
    ("web-download", "commit-a", "queued"),
    ("copy-image", "commit-b", "a"),
    ("copy-image", "add-location", "a,b"),
    ("copy-image", "progress", "a,b"),
])
def test_crash_at_import_step(cold_rig: Rig, small: Payload, method: str, point: str,
                              after: str) -> None:
    """A child process runs the import with ``os._exit`` right after one step (no
    ``finally`` runs); then the real server starts on its data dir."""
    rig = cold_rig
    proc = subprocess.run([sys.executable, "-c", CHILD, str(rig.server.data_dir),
                           str(rig.toml), point, method, str(small.qcow2),
                           rig.uri(small, "qcow2")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == CRASH_EXIT, f"crash point {point} not reached:\n{proc.stderr}"
    image_id = proc.stdout.split()[0]
    expect = Expect(content={image_id: small.content}, staged={image_id: small.qcow2_file})
    rig.server.start()
    with rig.client() as client:
        image = check_invariants(rig, client, expect)[image_id]
        if method == "copy-image":
            assert (image["status"], image["stores"]) == ("active", after)
            assert failed_stores(image) == ({"b"} if after == "a" else set())
            if after == "a":
                image = import_ok(client, image_id, copy_to("b"))
        else:
            assert image["status"] == after
            if after != "active":
                # "locked": the crash came before the import recorded its stores (and its 202)
                assert failed_stores(image) == ({"a"} if after == "queued" else set())
                if after == "queued" and method == "glance-direct":
                    stage(rig, image_id, small.qcow2)
                body = GLANCE_DIRECT if method == "glance-direct" else web(rig.uri(small, "qcow2"))
                image = import_ok(client, image_id, body)
        assert image["status"] == "active"
        check_invariants(rig, client, expect)
