"""Interoperable import over the API: glance-direct, web-download, conversion on import,
copy-image, and the pre-checks that refuse an import before any task runs."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cowshed.config import Settings, load_settings
from cowshed.domain.clock import utcnow
from cowshed.domain.images import ImageStatus
from cowshed.domain.tasks import Task, TaskStatus
from cowshed.formats.qemu_img import QemuImg, QemuImgCall
from tests.api._import_fixtures import (
    Api,
    SourceServer,
    digests,
    file_digests,
    running_api,
)
from tests.hostile_images import VIRTUAL, BenignCase, benign_cases, content_raw

MiB = 1 << 20
GLANCE_DIRECT = {"method": {"name": "glance-direct"}}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("import-source")
    content_raw(d / "disk.raw", size=4 * MiB, seed=3)
    content_raw(d / "big.raw", size=3 * MiB, seed=4)
    return d


@pytest.fixture(scope="module")
def benign(source_dir: Path) -> dict[str, BenignCase]:
    return {c.name: c for c in benign_cases(source_dir / "benign")}


@pytest.fixture(scope="module")
def source(source_dir: Path) -> Iterator[SourceServer]:
    with SourceServer(source_dir) as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, source: SourceServer) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("import-data"),
                        allowed_ports=(source.port,))
    with running_api(settings) as running:
        yield running


@pytest.fixture
def fresh(api: Api) -> Iterator[Api]:
    """The module's API with a clean audit and no hook, restored afterwards."""
    api.audit.calls.clear()
    api.audit.hook = None
    yield api
    api.audit.hook = None


def _raw(path: Path) -> bytes:
    return path.read_bytes()


def _staged(api: Api, image_id: str) -> Path:
    return api.settings.staging_dir / image_id


# -- glance-direct ----------------------------------------------------------------------------


def test_glance_direct_happy_path_shows_every_task_state(fresh: Api, source_dir: Path) -> None:
    api = fresh
    data = _raw(source_dir / "disk.raw")
    image_id = api.create(name="gd", disk_format="raw", container_format="bare")["id"]
    assert api.stage(image_id, data).status_code == 204
    assert api.show(image_id)["status"] == "uploading"
    assert _staged(api, image_id).read_bytes() == data

    # Hold every import worker, then qemu-img: the task is visibly pending, then processing.
    workers = threading.Event()
    qemu_gate = threading.Event()
    blockers = [api.svc.imports._pool.submit(workers.wait, 30) for _ in range(4)]

    def hold(call: QemuImgCall) -> None:
        qemu_gate.wait(30)

    api.audit.hook = hold
    try:
        assert api.import_(image_id, GLANCE_DIRECT).status_code == 202
        [task] = api.tasks(image_id)
        assert (task["status"], task["type"]) == ("pending", "api_image_import")
        assert task["input"] == GLANCE_DIRECT
        image = api.show(image_id)
        assert image["status"] == "importing"
        assert image["os_glance_import_task"] == task["id"]
        assert image["os_glance_importing_to_stores"] == "file"
        workers.set()
        _until(lambda: api.task(task["id"])["status"] == "processing")
        assert api.show(image_id)["status"] == "importing"
    finally:
        workers.set()
        qemu_gate.set()
        for b in blockers:
            b.result()
    done = api.wait_task(image_id)
    assert done["status"] == "success", done["message"]
    assert done["result"] == {"image_id": image_id}
    assert done["expires_at"] is not None

    image = api.show(image_id)
    md5, sha = digests(data)
    assert image["status"] == "active"
    assert (image["checksum"], image["os_hash_algo"], image["os_hash_value"]) == (md5, "sha512",
                                                                                  sha)
    assert (image["size"], image["virtual_size"]) == (len(data), len(data))
    assert "os_glance_import_task" not in image
    assert image["os_glance_importing_to_stores"] == ""
    assert image["os_glance_failed_import"] == ""
    assert file_digests(api.store_dir() / image_id) == (md5, sha)
    assert not _staged(api, image_id).exists()
    assert api.leftovers(image_id) == [api.store_dir() / image_id]
    r = api.client.get(f"/v2/images/{image_id}/file")
    assert r.content == data


def _until(predicate: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_info_import_lists_the_methods(api: Api) -> None:
    r = api.client.get("/v2/info/import")
    assert r.json() == {"import-methods": {"description": "Import methods available.",
                                           "type": "array",
                                           "value": ["glance-direct", "web-download",
                                                     "copy-image"]}}


# -- pre-checks -------------------------------------------------------------------------------


def _staged_image(api: Api, data: bytes = b"\0" * 4096, **body: Any) -> str:
    image_id: str = api.create(**({"disk_format": "raw", "container_format": "bare"} | body))["id"]
    assert api.stage(image_id, data).status_code == 204
    return image_id


def _refused(api: Api, image_id: str, body: Any, status: int, fragment: str) -> None:
    before = len(api.tasks(image_id))
    r = api.import_(image_id, body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["message"]
    tasks = api.tasks(image_id)
    assert all(t["status"] == "failure" for t in tasks[before:]), tasks


def test_import_on_active_image_is_409(fresh: Api, source: SourceServer) -> None:
    image_id = fresh.create(disk_format="raw", container_format="bare")["id"]
    assert fresh.upload(image_id, b"x" * 512).status_code == 204
    _refused(fresh, image_id, GLANCE_DIRECT, 409, "already active")
    _refused(fresh, image_id, {"method": {"name": "web-download", "uri": source.url("disk.raw")}},
             409, "already active")


def test_glance_direct_needs_staged_data(fresh: Api) -> None:
    queued = fresh.create(disk_format="raw", container_format="bare")["id"]
    _refused(fresh, queued, GLANCE_DIRECT, 409, "needs uploading")
    # uploading, but the staged file is gone (e.g. removed by hand): still refused
    fresh.svc.deps.repo.set_status(queued, ImageStatus.QUEUED, ImageStatus.UPLOADING)
    _refused(fresh, queued, GLANCE_DIRECT, 409, "no staged data")
    assert fresh.show(queued)["status"] == "uploading"


def test_web_download_needs_queued(fresh: Api, source: SourceServer) -> None:
    image_id = _staged_image(fresh)
    _refused(fresh, image_id, {"method": {"name": "web-download", "uri": source.url("disk.raw")}},
             409, "needs queued")


@pytest.mark.parametrize(("body", "fragment"), [
    ({"method": {"name": "glance-upload"}}, "not valid"),
    ({"method": {"name": "glance-download"}}, "not valid"),
    ({}, "'method'"),
    ({"method": "glance-direct"}, "'method'"),
    ({"method": {}}, "'method'"),
    ([], "JSON object"),
    ({"method": {"name": "web-download"}}, "uri"),
    ({"method": {"name": "glance-direct"}, "stores": ["file"]}, "multiple stores"),
    ({"method": {"name": "glance-direct"}, "all_stores_must_succeed": False}, "multiple stores"),
    ({"method": {"name": "glance-direct"}, "all_stores": True, "stores": ["file"]},
     "multiple stores"),
    ({"method": {"name": "glance-direct"}, "all_stores": "yes"}, "booleans"),
])
def test_malformed_import_request_is_400(fresh: Api, body: Any, fragment: str) -> None:
    image_id = _staged_image(fresh)
    _refused(fresh, image_id, body, 400, fragment)
    assert fresh.show(image_id)["status"] == "uploading"
    assert _staged(fresh, image_id).exists()


def test_all_stores_with_one_store_means_that_store(fresh: Api) -> None:
    """Glance ignores all_stores without multi-store; Tempest sends all_stores=true always."""
    data = os.urandom(5000)
    image_id = _staged_image(fresh, data)
    task = fresh.import_and_wait(image_id, {**GLANCE_DIRECT, "all_stores": True})
    assert task["status"] == "success", task["message"]
    image = fresh.show(image_id)
    assert (image["status"], image["checksum"]) == ("active", digests(data)[0])


def test_missing_body_is_400_and_unknown_image_404(fresh: Api) -> None:
    image_id = _staged_image(fresh)
    r = fresh.client.post(f"/v2/images/{image_id}/import", content=b"",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "empty" in r.json()["message"]
    r = fresh.import_("5b1c8c0e-0000-4000-8000-000000000000", GLANCE_DIRECT)
    assert r.status_code == 404
    r = fresh.stage("5b1c8c0e-0000-4000-8000-000000000000", b"x")
    assert r.status_code == 404


def test_stage_twice_is_409_and_keeps_the_first_data(fresh: Api) -> None:
    image_id = _staged_image(fresh, b"first" * 100)
    r = fresh.stage(image_id, b"second" * 100)
    assert r.status_code == 409, r.text
    assert "staged" in r.json()["message"]
    assert _staged(fresh, image_id).read_bytes() == b"first" * 100
    assert fresh.show(image_id)["status"] == "uploading"


def test_a_slow_stage_commit_does_not_stall_other_requests(
    fresh: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage's fsync runs off the event loop: other requests are served meanwhile."""
    import time

    staging = fresh.svc.deps.staging
    real_open = staging.open_writer
    committing = threading.Event()

    def slow_writer(key: str, size: int | None) -> Any:
        writer = real_open(key, size)
        real_commit = writer.commit

        def commit() -> Any:
            committing.set()
            time.sleep(1.5)
            return real_commit()

        writer.commit = commit  # type: ignore[method-assign]
        return writer

    monkeypatch.setattr(staging, "open_writer", slow_writer)
    image_id = fresh.create(disk_format="raw", container_format="bare")["id"]
    result: list[int] = []
    stager = threading.Thread(target=lambda: result.append(
        fresh.stage(image_id, b"\0" * 4096).status_code))
    stager.start()
    assert committing.wait(10)
    start = time.monotonic()
    assert fresh.client.get("/versions").status_code == 200
    elapsed = time.monotonic() - start
    stager.join(10)
    assert result == [204]
    assert elapsed < 1.0, f"a request waited {elapsed:.2f} s behind a stage commit"


def test_stage_larger_than_the_cap_is_413(tmp_path: Path) -> None:
    with running_api(Settings(data_dir=tmp_path, image_size_cap=MiB)) as api:
        image_id = api.create(disk_format="raw", container_format="bare")["id"]
        r = api.stage(image_id, bytes(MiB + 1))
        assert r.status_code == 413, r.text
        assert api.show(image_id)["status"] == "queued"
        assert api.leftovers(image_id) == []


def test_import_without_disk_format_is_409_until_it_is_set(fresh: Api) -> None:
    data = b"\0" * 8192
    image_id = fresh.create(name="no-format")["id"]
    assert fresh.stage(image_id, data).status_code == 204
    _refused(fresh, image_id, GLANCE_DIRECT, 409, "'disk_format' and 'container_format'")
    assert fresh.show(image_id)["status"] == "uploading"
    r = fresh.client.patch(
        f"/v2/images/{image_id}",
        json=[{"op": "add", "path": "/disk_format", "value": "raw"},
              {"op": "add", "path": "/container_format", "value": "bare"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert r.status_code == 200, r.text
    task = fresh.import_and_wait(image_id, GLANCE_DIRECT)
    assert task["status"] == "success", task["message"]
    assert fresh.show(image_id)["checksum"] == digests(data)[0]


def _holder(api: Api, image_id: str, status: TaskStatus, age: timedelta = timedelta()) -> str:
    """A task that holds the import lock of ``image_id``, last updated ``age`` ago."""
    when = utcnow() - age
    task = Task(id=f"holder-{status}-{int(age.total_seconds())}", image_id=image_id,
                type="api_image_import", status=status, input={}, result=None, message="",
                owner="admin", created_at=when, updated_at=when, expires_at=None)
    api.svc.deps.repo.insert_task(task)
    assert api.svc.deps.repo.claim_property(image_id, "os_glance_import_task", task.id)
    return task.id


def test_import_while_the_lock_is_held_is_409(fresh: Api) -> None:
    image_id = _staged_image(fresh)
    holder = _holder(fresh, image_id, TaskStatus.PROCESSING, timedelta(minutes=59))
    _refused(fresh, image_id, GLANCE_DIRECT, 409, "still in progress")
    image = fresh.show(image_id)
    assert (image["status"], image["os_glance_import_task"]) == ("uploading", holder)
    assert _staged(fresh, image_id).exists()


@pytest.mark.parametrize(("status", "age"), [
    (TaskStatus.FAILURE, timedelta()),
    (TaskStatus.SUCCESS, timedelta()),
    (TaskStatus.PROCESSING, timedelta(minutes=61)),
    (TaskStatus.PENDING, timedelta(minutes=121)),
])
def test_a_stale_lock_is_broken(fresh: Api, status: TaskStatus, age: timedelta) -> None:
    image_id = _staged_image(fresh)
    holder = _holder(fresh, image_id, status, age)
    task = fresh.import_and_wait(image_id, GLANCE_DIRECT)
    assert task["status"] == "success", task["message"]
    assert task["id"] != holder
    image = fresh.show(image_id)
    assert image["status"] == "active"
    assert "os_glance_import_task" not in image


def test_a_young_pending_lock_is_not_broken(fresh: Api) -> None:
    image_id = _staged_image(fresh)
    _holder(fresh, image_id, TaskStatus.PENDING, timedelta(minutes=90))
    _refused(fresh, image_id, GLANCE_DIRECT, 409, "still in progress")


def test_concurrent_import_gets_409_while_the_first_runs(fresh: Api, benign: dict[str,
                                                         BenignCase]) -> None:
    """A real race: the first import is held inside qemu-img info, the second is refused."""
    image_id = _staged_image(fresh, benign["qcow2"].path.read_bytes(), disk_format="qcow2")
    gate = threading.Event()
    fresh.audit.hook = lambda call: gate.wait(30) and None
    try:
        assert fresh.import_(image_id, GLANCE_DIRECT).status_code == 202
        _until(lambda: fresh.tasks(image_id)[-1]["status"] == "processing")
        r = fresh.import_(image_id, GLANCE_DIRECT)
        assert r.status_code == 409, r.text
    finally:
        gate.set()
    task = fresh.wait_task(image_id)
    assert task["status"] == "success", task["message"]


# -- web-download -----------------------------------------------------------------------------


def _web(uri: str) -> dict[str, Any]:
    return {"method": {"name": "web-download", "uri": uri}}


def test_web_download_happy_path(fresh: Api, source: SourceServer, source_dir: Path) -> None:
    data = _raw(source_dir / "disk.raw")
    for path in ("disk.raw", "nolength/disk.raw", f"redirect?to={source.url('disk.raw')}"):
        image_id = fresh.create(disk_format="raw", container_format="bare")["id"]
        task = fresh.import_and_wait(image_id, _web(source.url(path)))
        assert task["status"] == "success", (path, task["message"])
        image = fresh.show(image_id)
        assert image["status"] == "active"
        assert (image["checksum"], image["os_hash_value"]) == digests(data)
        assert (image["size"], image["virtual_size"]) == (len(data), len(data))
        assert fresh.leftovers(image_id) == [fresh.store_dir() / image_id]


@pytest.mark.parametrize(("uri", "fragment"), [
    ("file:///etc/passwd", "scheme 'file'"),
    ("ftp://127.0.0.1:{port}/disk.raw", "scheme 'ftp'"),
    ("gopher://127.0.0.1:{port}/", "scheme 'gopher'"),
    ("http://127.0.0.1:8080/disk.raw", "Port 8080"),
    ("http://127.0.0.1/disk.raw", "Port 80"),
    ("http://2130706433:{port}/disk.raw", "encoded IP"),
    ("http://0x7f.0.0.1:{port}/disk.raw", "encoded IP"),
    ("http://0177.0.0.1:{port}/disk.raw", "encoded IP"),
    ("http://127.1:{port}/disk.raw", "encoded IP"),
    ("http://0x7f000001:{port}/disk.raw", "encoded IP"),
    ("http:///disk.raw", "no host"),
    ("http://127.0.0.1:99999/disk.raw", "Invalid URI"),
])
def test_web_download_uri_filtering_is_400_before_any_fetch(
    fresh: Api, source: SourceServer, uri: str, fragment: str
) -> None:
    image_id = fresh.create(disk_format="raw", container_format="bare")["id"]
    seen = len(source.requests)
    r = fresh.import_(image_id, _web(uri.format(port=source.port)))
    assert r.status_code == 400, r.text
    assert fragment in r.json()["message"]
    assert fresh.tasks(image_id) == []
    image = fresh.show(image_id)
    assert image["status"] == "queued" and "os_glance_import_task" not in image
    assert len(source.requests) == seen


def test_web_download_filters_by_host(tmp_path: Path, source: SourceServer) -> None:
    settings = Settings(data_dir=tmp_path, allowed_ports=(source.port,),
                        disallowed_hosts=("127.0.0.1",))
    with running_api(settings) as api:
        image_id = api.create(disk_format="raw", container_format="bare")["id"]
        r = api.import_(image_id, _web(source.url("disk.raw")))
        assert r.status_code == 400 and "Host '127.0.0.1'" in r.json()["message"]


def _failed_web_download(api: Api, uri: str, fragment: str, disk_format: str = "raw") -> str:
    image_id: str = api.create(disk_format=disk_format, container_format="bare")["id"]
    task = api.import_and_wait(image_id, _web(uri))
    assert task["status"] == "failure"
    assert fragment in task["message"], task["message"]
    image = api.show(image_id)
    assert image["status"] == "queued"
    assert image["os_glance_failed_import"] == "file"
    assert image["os_glance_importing_to_stores"] == ""
    assert "os_glance_import_task" not in image
    assert image["checksum"] is None and image["size"] is None
    assert api.leftovers(image_id) == []
    return image_id


@pytest.mark.parametrize(("target", "fragment"), [
    ("http://127.0.0.1:1/disk.raw", "Port 1 is not allowed"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("http://2130706433:{port}/disk.raw", "encoded IP"),
    ("ftp://127.0.0.1:{port}/disk.raw", "scheme 'ftp'"),
])
def test_redirect_to_a_disallowed_url_fails_the_task(
    fresh: Api, source: SourceServer, target: str, fragment: str
) -> None:
    target = target.format(port=source.port)
    seen = len(source.requests)
    _failed_web_download(fresh, source.url(f"redirect?to={target}"),
                         f"redirect to {target} refused")
    assert source.requests[seen:] == ["/redirect"]  # the target itself was never contacted


def test_redirect_loop_fails_the_task(fresh: Api, source: SourceServer) -> None:
    _failed_web_download(fresh, source.url("redirect"), "more than 5 redirects")
    assert source.requests[-6:] == ["/redirect"] * 6


def test_web_download_http_404_fails_the_task(fresh: Api, source: SourceServer) -> None:
    _failed_web_download(fresh, source.url("missing.raw"), "HTTP 404")


def test_web_download_unreachable_source_fails_the_task(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allowed_ports=(9,))
    with running_api(settings) as api:
        _failed_web_download(api, "http://127.0.0.1:9/x.raw", "web-download of")


def test_web_download_larger_than_the_cap_fails(tmp_path: Path, source: SourceServer) -> None:
    settings = Settings(data_dir=tmp_path, allowed_ports=(source.port,),
                        image_size_cap=2 * MiB)
    with running_api(settings) as api:
        # announced by Content-Length, and discovered while streaming (no Content-Length)
        _failed_web_download(api, source.url("big.raw"), "size cap")
        _failed_web_download(api, source.url("nolength/big.raw"), "more than 2097152 bytes")


def test_failed_import_list_is_emptied_by_the_next_import(
    fresh: Api, source: SourceServer, source_dir: Path
) -> None:
    image_id = _failed_web_download(fresh, source.url("missing.raw"), "HTTP 404")
    task = fresh.import_and_wait(image_id, _web(source.url("disk.raw")))
    assert task["status"] == "success", task["message"]
    image = fresh.show(image_id)
    assert (image["status"], image["os_glance_failed_import"]) == ("active", "")
    assert len(fresh.tasks(image_id)) == 2


def test_web_download_task_is_processing_while_fetching(fresh: Api, source: SourceServer) -> None:
    source.gate.clear()
    try:
        image_id = fresh.create(disk_format="raw", container_format="bare")["id"]
        assert fresh.import_(image_id, _web(source.url("gate/disk.raw"))).status_code == 202
        _until(lambda: "/gate/disk.raw" in source.requests)
        [task] = fresh.tasks(image_id)
        assert task["status"] == "processing"
        assert fresh.show(image_id)["status"] == "importing"
    finally:
        source.gate.set()
    assert fresh.wait_task(image_id)["status"] == "success"


# -- conversion on import ---------------------------------------------------------------------


def _convert_settings(tmp: Path, port: int, convert_to: str = "raw") -> Settings:
    toml = tmp / "cowshed.toml"
    toml.write_text(
        f'default_backend = "file"\nallowed_ports = [{port}]\n'
        f'[stores.file]\ntype = "file"\nfilesystem_store_datadir = "{tmp / "images"}"\n'
        f'convert_to = "{convert_to}"\n')
    return load_settings(data_dir=tmp / "data", config_file=toml)


@pytest.fixture(scope="module")
def converting(tmp_path_factory: pytest.TempPathFactory, source: SourceServer) -> Iterator[Api]:
    with running_api(_convert_settings(tmp_path_factory.mktemp("convert"), source.port)) as api:
        yield api


def _check_converted(api: Api, image_id: str, case: BenignCase) -> None:
    image = api.show(image_id)
    assert image["status"] == "active"
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")
    assert image["virtual_size"] == VIRTUAL
    stored = api.store_dir() / image_id
    assert case.content is not None
    assert QemuImg().compare(stored, "raw", case.content, "raw")
    assert stored.read_bytes() == case.content.read_bytes()
    st = os.stat(stored)
    assert st.st_size == image["size"] == VIRTUAL
    assert st.st_blocks * 512 < VIRTUAL // 4, f"not sparse: {st.st_blocks * 512} bytes allocated"
    assert (image["checksum"], image["os_hash_value"]) == file_digests(stored)
    assert api.leftovers(image_id) == [stored]


@pytest.mark.parametrize("name", ["qcow2", "qcow2_compressed", "qcow2_v2",
                                  "vmdk_stream_optimized", "vmdk_monolithic_sparse", "vhdx",
                                  "vdi", "vhd"])
def test_glance_direct_converts_to_raw(converting: Api, benign: dict[str, BenignCase],
                                       name: str) -> None:
    case = benign[name]
    api = converting
    api.audit.calls.clear()
    image_id = api.create(name=name, disk_format=case.declared_format, container_format="bare")["id"]
    assert api.stage(image_id, case.path.read_bytes()).status_code == 204
    task = api.import_and_wait(image_id, GLANCE_DIRECT)
    assert task["status"] == "success", task["message"]
    if name == "vhd":  # qemu rounds a VHD up to its CHS geometry: compare the content only
        stored = api.store_dir() / image_id
        assert case.content is not None
        assert QemuImg().compare(stored, "raw", case.content, "raw")
        assert api.show(image_id)["virtual_size"] == case.virtual_size
    else:
        _check_converted(api, image_id, case)
    driver = {"vhd": "vpc"}.get(case.declared_format, case.declared_format)
    info, measure, convert = api.audit.calls
    assert info.argv[1:4] == ("info", "-f", driver)
    assert measure.argv[1:5] == ("measure", "--output=json", "-f", driver)
    assert convert.argv[1:5] == ("convert", "-f", driver, "-O") and convert.argv[5] == "raw"


def test_raw_into_a_raw_store_is_not_converted(converting: Api,
                                               benign: dict[str, BenignCase]) -> None:
    api = converting
    api.audit.calls.clear()
    case = benign["raw"]
    image_id = api.create(disk_format="raw", container_format="bare")["id"]
    assert api.stage(image_id, case.path.read_bytes()).status_code == 204
    assert api.import_and_wait(image_id, GLANCE_DIRECT)["status"] == "success"
    _check_converted(api, image_id, case)
    assert api.audit.operations() == ["info"]


def test_web_download_converts_to_raw(converting: Api, benign: dict[str, BenignCase],
                                      source: SourceServer, source_dir: Path) -> None:
    case = benign["qcow2_compressed"]
    api = converting
    image_id = api.create(disk_format="qcow2", container_format="bare")["id"]
    uri = source.url(case.path.relative_to(source_dir).as_posix())
    task = api.import_and_wait(image_id, _web(uri))
    assert task["status"] == "success", task["message"]
    _check_converted(api, image_id, case)


def test_iso_is_stored_as_it_is_on_a_raw_store(converting: Api,
                                               benign: dict[str, BenignCase]) -> None:
    api = converting
    api.audit.calls.clear()
    case = benign["iso_handmade"]
    image_id = api.create(disk_format="iso", container_format="bare")["id"]
    assert api.stage(image_id, case.path.read_bytes()).status_code == 204
    assert api.import_and_wait(image_id, GLANCE_DIRECT)["status"] == "success"
    image = api.show(image_id)
    assert (image["disk_format"], image["virtual_size"]) == ("iso", case.virtual_size)
    assert api.audit.calls == []


def test_deleting_the_image_during_conversion_leaves_nothing(
    converting: Api, benign: dict[str, BenignCase]
) -> None:
    api = converting
    gate = threading.Event()
    api.audit.hook = lambda call: gate.wait(30) and None if call.operation == "convert" else None
    try:
        image_id = api.create(disk_format="qcow2", container_format="bare")["id"]
        assert api.stage(image_id, benign["qcow2"].path.read_bytes()).status_code == 204
        assert api.import_(image_id, GLANCE_DIRECT).status_code == 202
        _until(lambda: "convert" in api.audit.operations())
        assert api.client.delete(f"/v2/images/{image_id}").status_code == 204
    finally:
        gate.set()
        api.audit.hook = None
    _until(lambda: api.svc.deps.repo.tasks_for_image(image_id)[-1].status == "failure")
    assert api.client.get(f"/v2/images/{image_id}").status_code == 404
    assert api.leftovers(image_id) == []


def _corrupt_qcow2(case: BenignCase, dst: Path) -> Path:
    """A qcow2 whose header passes inspection but whose first L1 entry is unaligned: qemu-img
    info accepts it, qemu-img convert fails reading it."""
    data = bytearray(case.path.read_bytes())
    l1_offset = int.from_bytes(data[40:48], "big")
    data[l1_offset:l1_offset + 8] = (0x8000000000000000 | 0x10200).to_bytes(8, "big")
    dst.write_bytes(bytes(data))
    return dst


def test_failed_conversion_returns_the_image_to_queued(converting: Api, tmp_path: Path,
                                                       benign: dict[str, BenignCase]) -> None:
    api = converting
    api.audit.calls.clear()
    bad = _corrupt_qcow2(benign["qcow2"], tmp_path / "corrupt.qcow2")
    image_id = api.create(disk_format="qcow2", container_format="bare")["id"]
    assert api.stage(image_id, bad.read_bytes()).status_code == 204
    task = api.import_and_wait(image_id, GLANCE_DIRECT)
    assert task["status"] == "failure"
    assert "qemu-img convert failed" in task["message"], task["message"]
    image = api.show(image_id)
    assert (image["status"], image["disk_format"]) == ("queued", "qcow2")
    assert image["os_glance_failed_import"] == "file"
    assert image["size"] is None and image["checksum"] is None
    assert api.leftovers(image_id) == []
    assert "convert" in api.audit.operations()


def test_qemu_img_failing_returns_the_image_to_queued(tmp_path: Path, source: SourceServer,
                                                      benign: dict[str, BenignCase]) -> None:
    settings = _convert_settings(tmp_path, source.port)
    from tests.api._import_fixtures import QemuAudit

    audit = QemuAudit()
    audit.qemu = QemuImg(audit=audit.calls.append, binary="/bin/false")
    with running_api(settings, audit) as api:
        image_id = api.create(disk_format="qcow2", container_format="bare")["id"]
        assert api.stage(image_id, benign["qcow2"].path.read_bytes()).status_code == 204
        task = api.import_and_wait(image_id, GLANCE_DIRECT)
        assert task["status"] == "failure"
        assert "qemu-img info failed" in task["message"], task["message"]
        assert api.show(image_id)["status"] == "queued"
        assert api.leftovers(image_id) == []


def test_qcow2_store_keeps_qcow2_and_converts_others(tmp_path: Path, source: SourceServer,
                                                    benign: dict[str, BenignCase]) -> None:
    with running_api(_convert_settings(tmp_path, source.port, "qcow2")) as api:
        for name, converted in (("qcow2", False), ("vdi", True)):
            case = benign[name]
            image_id = api.create(disk_format=case.declared_format, container_format="bare")["id"]
            assert api.stage(image_id, case.path.read_bytes()).status_code == 204
            assert api.import_and_wait(image_id, GLANCE_DIRECT)["status"] == "success"
            image = api.show(image_id)
            stored = api.store_dir() / image_id
            assert (image["disk_format"], image["virtual_size"]) == ("qcow2", VIRTUAL)
            assert case.content is not None
            assert QemuImg().compare(stored, "qcow2", case.content, "raw")
            assert (stored.read_bytes() == case.path.read_bytes()) is not converted


# -- copy-image -------------------------------------------------------------------------------


@pytest.fixture
def two_stores(tmp_path: Path) -> Iterator[Api]:
    toml = tmp_path / "cowshed.toml"
    toml.write_text(
        'default_backend = "a"\n'
        f'[stores.a]\ntype = "file"\nfilesystem_store_datadir = "{tmp_path / "a"}"\n'
        f'[stores.b]\ntype = "file"\nfilesystem_store_datadir = "{tmp_path / "b"}"\n')
    with running_api(load_settings(data_dir=tmp_path / "data", config_file=toml)) as api:
        yield api


def test_copy_image_between_file_stores(two_stores: Api, source_dir: Path) -> None:
    api = two_stores
    data = _raw(source_dir / "disk.raw")
    image_id = api.create(disk_format="raw", container_format="bare")["id"]
    assert api.upload(image_id, data).status_code == 204
    assert api.show(image_id)["stores"] == "a"

    task = api.import_and_wait(image_id, {"method": {"name": "copy-image"}, "stores": ["b"]})
    assert task["status"] == "success", task["message"]
    image = api.show(image_id)
    assert (image["status"], image["stores"]) == ("active", "a,b")
    assert image["os_glance_importing_to_stores"] == "" and image["os_glance_failed_import"] == ""
    assert (api.store_dir("b") / image_id).read_bytes() == data
    assert api.audit.calls == []

    _refused(api, image_id, {"method": {"name": "copy-image"}, "stores": ["b"]}, 400,
             "already exists")
    _refused(api, image_id, {"method": {"name": "copy-image"}, "all_stores": True}, 400,
             "every requested store")
    _refused(api, image_id, {"method": {"name": "copy-image"}, "stores": ["c"]}, 400,
             "Unknown store c")

    assert api.client.delete(f"/v2/stores/b/{image_id}").status_code == 204
    assert api.show(image_id)["stores"] == "a"
    assert not (api.store_dir("b") / image_id).exists()
    r = api.client.delete(f"/v2/stores/a/{image_id}")
    assert r.status_code == 403 and "last location" in r.json()["message"]
    assert (api.store_dir("a") / image_id).read_bytes() == data

    task = api.import_and_wait(image_id, {"method": {"name": "copy-image"}, "all_stores": True})
    assert task["status"] == "success", task["message"]
    assert api.show(image_id)["stores"] == "a,b"


def test_copy_image_needs_an_active_image(two_stores: Api) -> None:
    image_id = two_stores.create(disk_format="raw", container_format="bare")["id"]
    _refused(two_stores, image_id, {"method": {"name": "copy-image"}, "stores": ["b"]}, 409,
             "must be active")


def test_glance_direct_into_every_store(two_stores: Api) -> None:
    api = two_stores
    data = os.urandom(100_000)
    image_id = _staged_image(api, data)
    task = api.import_and_wait(image_id, {"method": {"name": "glance-direct"},
                                          "all_stores": True})
    assert task["status"] == "success", task["message"]
    image = api.show(image_id)
    assert (image["stores"], image["checksum"]) == ("a,b", digests(data)[0])
    for store in ("a", "b"):
        assert (api.store_dir(store) / image_id).read_bytes() == data
    assert not _staged(api, image_id).exists()


def test_x_image_meta_store_header_picks_the_import_store(two_stores: Api) -> None:
    api = two_stores
    image_id = _staged_image(api, b"\1" * 4096)
    r = api.client.post(f"/v2/images/{image_id}/import", json=GLANCE_DIRECT,
                        headers={"X-Image-Meta-Store": "b"})
    assert r.status_code == 202, r.text
    assert api.wait_task(image_id)["status"] == "success"
    assert api.show(image_id)["stores"] == "b"
    other = _staged_image(api)
    r = api.client.post(f"/v2/images/{other}/import",
                        json={**GLANCE_DIRECT, "stores": ["a"]}, headers={"X-Image-Meta-Store": "b"})
    assert r.status_code == 400 and "X-Image-Meta-Store" in r.json()["message"]
    r = api.client.post(f"/v2/images/{other}/import", json=GLANCE_DIRECT,
                        headers={"X-Image-Meta-Store": "nope"})
    assert r.status_code == 400 and "Unknown store nope" in r.json()["message"]


def test_x_image_meta_store_header_needs_multistore(fresh: Api) -> None:
    image_id = _staged_image(fresh)
    r = fresh.client.post(f"/v2/images/{image_id}/import", json=GLANCE_DIRECT,
                          headers={"X-Image-Meta-Store": "file"})
    assert r.status_code == 400 and "multiple stores" in r.json()["message"]

