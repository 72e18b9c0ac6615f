"""Every hostile image of the corpus is refused on every way in, and qemu-img never opens one.

The three ways in are ``PUT /file`` (upload), ``PUT /stage`` (glance-direct staging) and
web-download from a local HTTP server. One API instance serves the whole module, so its audit
list covers the whole hostile run; a control test proves the audit does see qemu-img when a
benign image is imported, so "no calls" is not vacuous.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowshed.config import Settings
from tests.api._import_fixtures import Api, QemuAudit, SourceServer, running_api
from tests.hostile_images import (
    BenignCase,
    HostileCase,
    benign_cases,
    content_raw,
    hostile_cases,
)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-api")


@pytest.fixture(scope="module")
def hostile(corpus_dir: Path) -> list[HostileCase]:
    cases = hostile_cases(corpus_dir)
    assert len(cases) >= 20
    return cases


@pytest.fixture(scope="module")
def source(corpus_dir: Path) -> Iterator[SourceServer]:
    with SourceServer(corpus_dir) as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, source: SourceServer) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile-data"),
                        allowed_ports=(source.port,))
    with running_api(settings) as running:
        yield running


def _new_image(api: Api, case: HostileCase, container: str = "bare") -> str:
    image = api.create(name=case.name, disk_format=case.declared_format,
                       container_format=container)
    return str(image["id"])


def _refusal(case: HostileCase, r: httpx.Response) -> str | None:
    """None if ``r`` is a 4xx whose message names the case's reason, else what went wrong."""
    message = r.json().get("message", "") if r.headers.get("content-type", "").endswith(
        "json") else r.text
    if not 400 <= r.status_code < 500:
        return f"{case.name}: HTTP {r.status_code} {message!r}"
    if case.expect not in message:
        return f"{case.name}: refused for another reason: {message!r} (wanted {case.expect!r})"
    return None


def _left_untouched(api: Api, case: HostileCase, image_id: str) -> list[str]:
    problems = []
    image = api.show(image_id)
    if image["status"] != "queued":
        problems.append(f"{case.name}: image is {image['status']}, not queued")
    if image["checksum"] or image["size"] is not None or image["os_hash_value"]:
        problems.append(f"{case.name}: image records data: {image}")
    if "os_glance_import_task" in image:
        problems.append(f"{case.name}: import lock left behind")
    leftovers = api.leftovers(image_id)
    if leftovers:
        problems.append(f"{case.name}: data left behind: {leftovers}")
    return problems


def _no_qemu(api: Api) -> None:
    assert api.audit.calls == [], f"qemu-img ran on hostile bytes: {api.audit.calls}"


def test_upload_refuses_every_hostile_image(api: Api, hostile: list[HostileCase]) -> None:
    problems: list[str] = []
    for case in hostile:
        image_id = _new_image(api, case)
        r = api.upload(image_id, case.path.read_bytes())
        problem = _refusal(case, r)
        problems += [problem] if problem else []
        problems += _left_untouched(api, case, image_id)
    assert not problems, "\n".join(problems)
    _no_qemu(api)


def test_stage_refuses_every_hostile_image_while_streaming(
    api: Api, hostile: list[HostileCase]
) -> None:
    problems: list[str] = []
    for case in hostile:
        image_id = _new_image(api, case)
        r = api.stage(image_id, case.path.read_bytes())
        problem = _refusal(case, r)
        problems += [problem] if problem else []
        problems += _left_untouched(api, case, image_id)
        if api.tasks(image_id):
            problems.append(f"{case.name}: a refused stage created a task")
    assert not problems, "\n".join(problems)
    _no_qemu(api)


def test_web_download_of_every_hostile_image_fails_its_task(
    api: Api, hostile: list[HostileCase], source: SourceServer, corpus_dir: Path
) -> None:
    problems: list[str] = []
    for case in hostile:
        image_id = _new_image(api, case)
        name = case.path.relative_to(corpus_dir).as_posix()
        r = api.import_(image_id, {"method": {"name": "web-download", "uri": source.url(name)}})
        if r.status_code != 202:
            problems.append(f"{case.name}: import POST answered {r.status_code} {r.text}")
            continue
        task = api.wait_task(image_id)
        if task["status"] != "failure" or case.expect not in task["message"]:
            problems.append(f"{case.name}: task {task['status']} {task['message']!r} "
                            f"(wanted failure naming {case.expect!r})")
        problems += _left_untouched(api, case, image_id)
        image = api.show(image_id)
        if image.get("os_glance_failed_import") != "file":
            problems.append(f"{case.name}: os_glance_failed_import is "
                            f"{image.get('os_glance_failed_import')!r}")
        if image.get("os_glance_importing_to_stores"):
            problems.append(f"{case.name}: still importing to "
                            f"{image['os_glance_importing_to_stores']!r}")
        if f"/{name}" not in source.requests:
            problems.append(f"{case.name}: the source was never fetched")
    assert not problems, "\n".join(problems)
    _no_qemu(api)


def test_refused_image_can_be_retried_with_good_data(api: Api, hostile: list[HostileCase],
                                                     tmp_path: Path) -> None:
    case = next(c for c in hostile if c.name == "qcow2_backing_passwd")
    image_id = _new_image(api, case, container="bare")
    assert api.stage(image_id, case.path.read_bytes()).status_code == 415
    api.client.patch(f"/v2/images/{image_id}", json=[
        {"op": "replace", "path": "/disk_format", "value": "raw"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    good = content_raw(tmp_path / "good.raw", size=1 << 20).read_bytes()
    assert api.upload(image_id, good).status_code == 204
    assert api.show(image_id)["status"] == "active"
    _no_qemu(api)


def test_hostile_bytes_in_an_archive_container_are_never_opened(
    tmp_path: Path, hostile: list[HostileCase]
) -> None:
    """Non-bare containers are archives: stored as they are, not inspected, never converted."""
    case = next(c for c in hostile if c.name == "qcow2_data_file")
    toml = tmp_path / "cowshed.toml"
    toml.write_text(f'default_backend = "file"\n[stores.file]\ntype = "file"\n'
                    f'filesystem_store_datadir = "{tmp_path / "images"}"\nconvert_to = "raw"\n')
    from cowshed.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data", config_file=toml)
    with running_api(settings) as api:
        image_id = api.create(name="ova", disk_format="qcow2", container_format="ova")["id"]
        data = case.path.read_bytes()
        assert api.stage(image_id, data).status_code == 204
        task = api.import_and_wait(image_id, {"method": {"name": "glance-direct"}})
        assert task["status"] == "success", task["message"]
        image = api.show(image_id)
        assert (image["status"], image["disk_format"], image["size"]) == ("active", "qcow2",
                                                                          len(data))
        assert (api.store_dir() / image_id).read_bytes() == data
        assert api.audit.calls == []


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> list[BenignCase]:
    return benign_cases(tmp_path_factory.mktemp("benign-control"))


def test_audit_sees_qemu_img_when_a_benign_image_is_imported(
    tmp_path: Path, benign: list[BenignCase]
) -> None:
    """The control: the same wiring records qemu-img calls, so "no calls" above means none ran."""
    case = next(c for c in benign if c.name == "qcow2")
    audit = QemuAudit()
    with running_api(Settings(data_dir=tmp_path), audit) as api:
        image_id = api.create(disk_format="qcow2", container_format="bare")["id"]
        assert api.stage(image_id, case.path.read_bytes()).status_code == 204
        task: dict[str, Any] = api.import_and_wait(image_id, {"method": {"name": "glance-direct"}})
        assert task["status"] == "success", task["message"]
    assert "info" in audit.operations()
    info = next(c for c in audit.calls if c.operation == "info")
    assert info.argv[1:4] == ("info", "-f", "qcow2"), info.argv


def test_staged_without_a_format_then_declared_is_refused_before_qemu_img(
    api: Api, hostile: list[HostileCase]
) -> None:
    """Stage with no disk_format (the inspector accepts any *safe* format), declare the format
    afterwards, import: whatever the stage let through, the import's own inspection refuses."""
    problems: list[str] = []
    for case in hostile:
        image_id = str(api.create(name=case.name)["id"])
        r = api.stage(image_id, case.path.read_bytes())
        if r.status_code != 204:
            problem = _refusal(case, r)
            problems += [problem] if problem else []
            problems += _left_untouched(api, case, image_id)
            continue
        r = api.client.patch(f"/v2/images/{image_id}", json=[
            {"op": "add", "path": "/disk_format", "value": case.declared_format},
            {"op": "add", "path": "/container_format", "value": "bare"}],
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        assert r.status_code == 200, r.text
        r = api.import_(image_id, {"method": {"name": "glance-direct"}})
        assert r.status_code == 202, r.text
        task = api.wait_task(image_id)
        if task["status"] != "failure" or case.expect not in task["message"]:
            problems.append(f"{case.name}: task {task['status']} {task['message']!r} "
                            f"(wanted failure naming {case.expect!r})")
        problems += _left_untouched(api, case, image_id)
    assert not problems, "\n".join(problems)
    _no_qemu(api)


class _CountingWriter:
    def __init__(self, inner: Any, counts: list[int]) -> None:
        self.inner = inner
        self.counts = counts

    def write(self, data: bytes | memoryview) -> None:
        self.counts.append(len(data))
        self.inner.write(data)

    def commit(self) -> Any:
        return self.inner.commit()

    def abort(self) -> None:
        self.inner.abort()


@pytest.mark.parametrize("way", ["upload", "stage", "web-download"])
def test_refusal_stops_writing_once_the_header_is_judged(
    api: Api, hostile: list[HostileCase], corpus_dir: Path, source: SourceServer,
    monkeypatch: pytest.MonkeyPatch, way: str,
) -> None:
    """A hostile header followed by 64 MiB: refused after the first block, not after 64 MiB,
    and the client still gets the refusal (the rest of its body is read and dropped)."""
    case = next(c for c in hostile if c.name == "qcow2_backing_passwd")
    big = corpus_dir / "big-backing.qcow2"
    if not big.exists():
        big.write_bytes(case.path.read_bytes().ljust(64 << 20, b"\0"))
    backend = api.svc.deps.staging if way != "upload" else api.svc.deps.stores.get(None)
    counts: list[int] = []
    real_open = backend.open_writer
    monkeypatch.setattr(backend, "open_writer",
                        lambda key, size: _CountingWriter(real_open(key, size), counts))
    image_id = _new_image(api, case)
    if way == "web-download":
        r = api.import_(image_id, {"method": {"name": "web-download",
                                              "uri": source.url(big.name)}})
        assert r.status_code == 202, r.text
        task = api.wait_task(image_id)
        assert task["status"] == "failure" and case.expect in task["message"], task
    else:
        r = api.upload(image_id, big.read_bytes()) if way == "upload" else api.stage(
            image_id, big.read_bytes())
        assert _refusal(case, r) is None, r.text
    assert sum(counts) < 16 << 20, f"{sum(counts)} bytes of a refused image were written"
    assert _left_untouched(api, case, image_id) == []
    _no_qemu(api)
