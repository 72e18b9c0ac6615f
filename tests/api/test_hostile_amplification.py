"""Amplification (red-team findings): small images that convert into large ones, the cost of
re-reading converted emptiness, and imports that wait behind each other without bound.

A store with ``convert_to = "raw"`` and ``image_size_cap`` of 16 MiB receives images of 64 MiB
virtual size that carry a few hundred KiB: each must be refused after ``qemu-img measure`` and
before ``qemu-img convert`` writes a byte.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowshed.config import Settings, load_settings
from cowshed.formats import policy
from cowshed.services.ingest import Ingest, drive_file
from tests.api._import_fixtures import Api, QemuAudit, SourceServer, running_api
from tests.hostile_amplify import VIRTUAL, AmplifyingCase, amplifying_cases

MiB = 1 << 20


def _settings(tmp: Path, port: int, cap: int, convert_to: str = "raw") -> Settings:
    toml = tmp / "cowshed.toml"
    toml.write_text(
        f'default_backend = "file"\nallowed_ports = [{port}]\nimage_size_cap = {cap}\n'
        f'[stores.file]\ntype = "file"\nfilesystem_store_datadir = "{tmp / "images"}"\n'
        f'convert_to = "{convert_to}"\n')
    return load_settings(data_dir=tmp / "data", config_file=toml, environ={})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[AmplifyingCase]:
    return amplifying_cases(tmp_path_factory.mktemp("amplify"))


@pytest.fixture(scope="module")
def source(corpus: list[AmplifyingCase]) -> Iterator[SourceServer]:
    with SourceServer(corpus[0].path.parent) as server:
        yield server


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, source: SourceServer) -> Iterator[Api]:
    with running_api(_settings(tmp_path_factory.mktemp("capped"), source.port, 16 * MiB)) as api:
        yield api


def _import(api: Api, case: AmplifyingCase, way: str, source: SourceServer) -> dict[str, Any]:
    image_id = api.create(name=case.name, disk_format=case.declared,
                          container_format="bare")["id"]
    if way == "web-download":
        return api.import_and_wait(image_id, {"method": {
            "name": "web-download", "uri": source.url(case.path.name)}})
    assert api.stage(image_id, case.path.read_bytes()).status_code == 204
    return api.import_and_wait(image_id, {"method": {"name": "glance-direct"}})


@pytest.mark.parametrize("way", ["glance-direct", "web-download"])
def test_images_that_convert_past_the_cap_are_refused_before_converting(
    capped: Api, corpus: list[AmplifyingCase], source: SourceServer, way: str
) -> None:
    wrong = {}
    for case in corpus:
        task = _import(capped, case, way, source)
        if task["status"] != "failure" or "check output_size" not in task["message"]:
            wrong[case.name] = (task["status"], task["message"])
    assert not wrong, wrong
    assert "convert" not in capped.audit.operations()
    assert "measure" in capped.audit.operations()


def test_the_one_cluster_qcow2_really_amplifies(tmp_path: Path, source: SourceServer,
                                                corpus: list[AmplifyingCase]) -> None:
    """The control: with room for it, 384 KiB import as 64 MiB of data (no hole to hide in)."""
    case = next(c for c in corpus if c.name == "qcow2_l2_one_cluster")
    with running_api(_settings(tmp_path, source.port, 128 * MiB)) as api:
        task = _import(api, case, "glance-direct", source)
        assert task["status"] == "success", task
        image = api.show(task["result"]["image_id"])
    assert (image["size"], image["disk_format"]) == (VIRTUAL, "raw")
    assert image["checksum"] == hashlib.md5(b"\xaa" * VIRTUAL, usedforsecurity=False).hexdigest()


def test_a_conversion_that_does_not_fit_is_refused_before_converting(
    tmp_path: Path, source: SourceServer, corpus: list[AmplifyingCase],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(policy, "free_bytes", lambda directory: 1 * MiB)  # a nearly full disk
    case = next(c for c in corpus if c.name == "qcow2_zlib")
    with running_api(_settings(tmp_path, source.port, 128 * MiB)) as api:
        task = _import(api, case, "glance-direct", source)
        assert task["status"] == "failure" and "check free_space" in task["message"], task
        assert "convert" not in api.audit.operations()


def test_a_huge_virtual_size_is_not_converted_to_raw(tmp_path: Path, source: SourceServer) -> None:
    """An empty 2 TiB qcow2 (the red-team sent up to 64 TiB) is a fine qcow2, but as raw it
    would be a 2 TiB file: above the default 1 TiB cap, so refused; kept as qcow2 it is taken."""
    empty = tmp_path / "huge.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(empty), "2T"], check=True,
                   capture_output=True)
    for convert_to, expected in (("raw", "failure"), ("", "success")):
        home = tmp_path / (convert_to or "keep")
        home.mkdir()
        settings = _settings(home, source.port, 1 << 40, convert_to)
        with running_api(settings) as api:
            case = AmplifyingCase("huge", empty, "qcow2")
            task = _import(api, case, "glance-direct", source)
            assert task["status"] == expected, task
            assert "convert" not in api.audit.operations()


# -- converted emptiness is not read back ---------------------------------------------------

class _Sink:
    """A writer that keeps nothing but the byte count (drive_file's output is only hashed)."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes | memoryview) -> None:
        self.written += len(data)

    def commit(self) -> Any:
        return None

    def abort(self) -> None:
        pass


def test_drive_file_reads_only_the_data_of_a_sparse_file(tmp_path: Path) -> None:
    size, block = 64 * MiB, 1 * MiB
    path = tmp_path / "sparse.raw"
    with path.open("wb") as fh:
        fh.truncate(size)
        fh.seek(20 * MiB + 123)
        fh.write(b"data" * 1000)
        fh.seek(size - 10)
        fh.write(b"end-bytes!")
    read = []

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        read.append(length)
        return os.pread(fd, length, offset)

    sink = _Sink()
    ingest = Ingest(sink, expected_size=size, size_cap=size, inspector=None)  # type: ignore[arg-type]
    drive_file(path, ingest, block, read=counting_pread)
    result = ingest.finish()
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * MiB):
            md5.update(chunk)
            sha.update(chunk)
    assert (result.checksum, result.os_hash_value) == (md5.hexdigest(), sha.hexdigest())
    assert sink.written == size
    assert sum(read) <= 2 * block, f"{sum(read)} bytes read of a file with 4 KiB of data"


def test_an_empty_image_converts_and_stores_as_holes(tmp_path: Path, source: SourceServer,
                                                     corpus: list[AmplifyingCase]) -> None:
    case = next(c for c in corpus if c.name == "qcow2_empty")
    with running_api(_settings(tmp_path, source.port, 128 * MiB)) as api:
        task = _import(api, case, "glance-direct", source)
        assert task["status"] == "success", task
        image_id = task["result"]["image_id"]
        image = api.show(image_id)
        stored = api.store_dir() / image_id
        assert image["size"] == VIRTUAL == stored.stat().st_size
        assert stored.stat().st_blocks * 512 < 1 * MiB  # thin: the holes stayed holes
        zeros = hashlib.md5(bytes(VIRTUAL), usedforsecurity=False).hexdigest()
        assert image["checksum"] == zeros


# -- the import queue is bounded ------------------------------------------------------------

def test_a_full_import_queue_answers_429_and_takes_nothing(tmp_path: Path) -> None:
    gate, inside = threading.Event(), threading.Event()

    def hold(call: Any) -> None:
        inside.set()
        gate.wait(60)

    settings = Settings(data_dir=tmp_path, import_workers=1, import_queue_size=1)
    with running_api(settings, QemuAudit(hook=hold)) as api:
        ids = [api.create(disk_format="raw", container_format="bare")["id"] for _ in range(3)]
        for image_id in ids:
            assert api.stage(image_id, b"\x01" * 4096).status_code == 204
        body = {"method": {"name": "glance-direct"}}
        assert api.import_(ids[0], body).status_code == 202
        assert inside.wait(30)  # the one worker is busy
        assert api.import_(ids[1], body).status_code == 202  # waits in the queue
        full = api.import_(ids[2], body)
        assert full.status_code == 429, full.text
        assert "import queue is full" in full.json()["message"]
        assert full.headers["Retry-After"]
        third = api.show(ids[2])
        assert third["status"] == "uploading" and "os_glance_import_task" not in third
        assert api.tasks(ids[2]) == []
        gate.set()
        for image_id in ids[:2]:
            assert api.wait_task(image_id)["status"] == "success"
        assert api.import_and_wait(ids[2], body)["status"] == "success"
