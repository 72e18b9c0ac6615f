"""Races and leftovers (red-team findings): formats changed under a running upload or import,
the reserved namespace in another case, the tag quota and lost updates under concurrency,
DELETE during a stage, and staged data that is never imported.

Everything here runs on SQLite and, with $COWSHED_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowshed.api.app import create_app
from cowshed.config import Settings
from cowshed.errors import Conflict
from tests.api._import_fixtures import Api, QemuAudit, SourceServer, running_api
from tests.api.conftest import CreateImage
from tests.api.helpers import OCTET, PATCH21, TestClient
from tests.hostile_images import hostile_cases


def _patch(client: Any, image_id: str, *ops: dict[str, Any]) -> Any:
    return client.patch(f"/v2/images/{image_id}", json=list(ops),
                        headers={"Content-Type": PATCH21})


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` on threads released at once; return their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


# -- formats are decided once, and published as decided -------------------------------------

@pytest.fixture(scope="module")
def hostile_qcow2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("race-corpus")
    case = next(c for c in hostile_cases(corpus) if c.name == "qcow2_backing_passwd")
    return case.path


def test_container_change_during_web_download_is_refused(tmp_path: Path,
                                                         hostile_qcow2: Path) -> None:
    """The red-team case: created as ova (not inspected), PATCHed to bare mid-download: the
    qcow2 with a backing file ended up active as bare/qcow2. Now the PATCH is 403 and the
    image is published as what it was checked as."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "disk.qcow2").write_bytes(hostile_qcow2.read_bytes())
    with SourceServer(tmp_path / "src") as source, running_api(Settings(
            data_dir=tmp_path / "data", allowed_ports=(source.port,))) as api:
        image_id = api.create(disk_format="qcow2", container_format="ova")["id"]
        known = {t["id"] for t in api.tasks(image_id)}
        r = api.import_(image_id, {"method": {"name": "web-download",
                                              "uri": source.url("gate/disk.qcow2")}})
        assert r.status_code == 202, r.text
        _wait_status(api, image_id, "importing")
        changes = [_patch(api.client, image_id, _replace("/container_format", "bare")),
                   _patch(api.client, image_id, _replace("/disk_format", "raw"))]
        source.gate.set()
        task = api.wait_task(image_id, known)
    assert [c.status_code for c in changes] == [403, 403], [c.text for c in changes]
    image = api.show(image_id)
    assert (task["status"], image["status"]) == ("success", "active"), task
    assert (image["container_format"], image["disk_format"]) == ("ova", "qcow2")


def _wait_status(api: Api, image_id: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while api.show(image_id)["status"] != status:
        assert time.monotonic() < deadline, api.show(image_id)
        time.sleep(0.01)


def test_format_change_during_a_glance_direct_import_is_refused(tmp_path: Path) -> None:
    """The import is held inside qemu-img info (bare data is checked there): no PATCH of a
    format may land, and the import publishes the formats it checked."""
    gate, inside = threading.Event(), threading.Event()

    def hold(call: Any) -> None:
        inside.set()
        gate.wait(30)

    audit = QemuAudit(hook=hold)
    with running_api(Settings(data_dir=tmp_path), audit) as api:
        image_id = api.create(disk_format="raw", container_format="bare")["id"]
        assert api.stage(image_id, b"\x01" * 4096).status_code == 204
        r = api.import_(image_id, {"method": {"name": "glance-direct"}})
        assert r.status_code == 202, r.text
        assert inside.wait(30)
        codes = [_patch(api.client, image_id, _replace(f"/{f}", v)).status_code
                 for f, v in (("container_format", "ova"), ("disk_format", "qcow2"))]
        gate.set()
        task = api.wait_task(image_id)
        image = api.show(image_id)
    assert codes == [403, 403]
    assert task["status"] == "success", task
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")


def test_formats_of_staged_data_may_be_set_once_but_not_changed(tmp_path: Path) -> None:
    with running_api(Settings(data_dir=tmp_path)) as api:
        image_id = api.create(disk_format="raw")["id"]
        assert api.stage(image_id, b"\x01" * 4096).status_code == 204
        assert _patch(api.client, image_id, _replace("/disk_format", "qcow2")).status_code == 403
        assert _patch(api.client, image_id, _replace("/container_format", "bare")
                      ).status_code == 200
        assert _patch(api.client, image_id, _replace("/container_format", "ova")
                      ).status_code == 403


async def _during_slow_put(settings: Settings, what: str, meanwhile: Callable[
        [httpx.AsyncClient, str], Awaitable[Any]], **formats: str) -> tuple[int, Any, Any]:
    """PUT ``what`` (file or stage) that stalls after its first KiB, run ``meanwhile``, let
    the PUT finish; return (PUT status, meanwhile's result, the image or {"status": 404})."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = {"disk_format": "raw", "container_format": "bare", **formats}
            image_id = (await c.post("/v2/images", json=body)).json()["id"]
            gate = asyncio.Event()

            async def slow() -> Any:
                yield b"a" * 1000
                await gate.wait()
                yield b"b" * 1000

            put = asyncio.create_task(c.put(f"/v2/images/{image_id}/{what}", content=slow(),
                                            headers=OCTET))
            await asyncio.sleep(0.2)
            other = await meanwhile(c, image_id)
            gate.set()
            done = await put
            shown = await c.get(f"/v2/images/{image_id}")
            final = shown.json() if shown.status_code == 200 else {"status": shown.status_code}
            return done.status_code, other, final


async def _patch_async(c: httpx.AsyncClient, image_id: str, path: str, value: str) -> int:
    r = await c.patch(f"/v2/images/{image_id}", json=[_replace(path, value)],
                      headers={"Content-Type": PATCH21})
    return r.status_code


@pytest.mark.parametrize(("path", "value"), [("/container_format", "ova"),
                                             ("/disk_format", "qcow2")])
def test_format_change_during_upload_is_refused(settings: Settings, path: str,
                                                value: str) -> None:
    uploaded, patched, image = asyncio.run(_during_slow_put(
        settings, "file", lambda c, i: _patch_async(c, i, path, value)))
    assert (uploaded, patched) == (204, 403)
    assert (image["status"], image["disk_format"], image["container_format"]) == (
        "active", "raw", "bare")


def test_upload_publishes_nothing_if_formats_changed_behind_the_api(settings: Settings) -> None:
    """Defence in depth: a writer that bypasses the PATCH rule (an older process sharing the
    database) changes the container under an upload: the upload's final compare-and-set
    includes the formats its inspection was decided by, so nothing is published."""
    async def behind(c: httpx.AsyncClient, image_id: str) -> str:
        repo = c._transport.app.state.services.deps.repo  # type: ignore[attr-defined]
        from dataclasses import replace
        await asyncio.to_thread(repo.update_image, image_id,
                                lambda image: replace(image, container_format="ova"))
        return "changed"

    uploaded, _, image = asyncio.run(_during_slow_put(settings, "file", behind))
    assert uploaded == 409
    assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)


def test_status_compare_and_set_checks_formats(client: TestClient,
                                               create_image: CreateImage) -> None:
    repo = client.app.state.services.deps.repo  # type: ignore[attr-defined]
    image_id = create_image()["id"]
    from cowshed.domain.images import ImageStatus
    with pytest.raises(Conflict, match="changed"):
        repo.set_status(image_id, ImageStatus.QUEUED, ImageStatus.SAVING, formats=("raw", "ova"))
    repo.set_status(image_id, ImageStatus.QUEUED, ImageStatus.SAVING, formats=("raw", "bare"))


# -- the reserved namespace, in any case ----------------------------------------------------

@pytest.mark.parametrize("name", ["OS_GLANCE_x", "Os_Glance_import_task", "os_GLANCE_failed_import",
                                  "OS_glance"])
def test_reserved_namespace_in_any_case_is_403_and_the_image_stays_writable(
    client: TestClient, create_image: CreateImage, name: str
) -> None:
    image_id = create_image()["id"]
    r = _patch(client, image_id, {"op": "add", "path": f"/{name}", "value": "v"})
    assert r.status_code == 403, r.text
    r = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare",
                                        name: "v"})
    assert r.status_code == 403, r.text
    r = _patch(client, image_id, {"op": "add", "path": "/later", "value": "ok"})
    assert r.status_code == 200, r.text


def test_a_legacy_mixed_case_service_property_never_breaks_a_patch(
    client: TestClient, create_image: CreateImage
) -> None:
    """A row written before the check (or by a service): later PATCHes still answer 200."""
    repo = client.app.state.services.deps.repo  # type: ignore[attr-defined]
    image_id = create_image()["id"]
    repo.set_property(image_id, "OS_GLANCE_legacy", "v")
    for i in range(3):
        r = _patch(client, image_id, {"op": "add", "path": f"/p{i}", "value": "x"})
        assert r.status_code == 200, r.text
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["OS_GLANCE_legacy"] == "v" and shown["p2"] == "x"


# -- concurrency: quotas hold and no update is lost -----------------------------------------

@pytest.fixture
def small_quota(settings: Settings) -> Iterator[TestClient]:
    from dataclasses import replace
    with TestClient(create_app(replace(settings, image_tag_quota=10)),
                    raise_server_exceptions=False) as client:
        yield client


def test_tag_quota_holds_under_40_concurrent_puts(small_quota: TestClient) -> None:
    client = small_quota
    image_id = client.post("/v2/images", json={"tags": [f"old{i}" for i in range(5)]}).json()["id"]
    results = _together([lambda i=i: client.put(f"/v2/images/{image_id}/tags/t{i}")
                         for i in range(40)])
    codes = sorted(r.status_code for r in results)
    assert codes == [204] * 5 + [413] * 35, codes
    assert len(client.get(f"/v2/images/{image_id}").json()["tags"]) == 10


def test_tag_quota_holds_with_patch_and_put_together(small_quota: TestClient) -> None:
    client = small_quota
    image_id = client.post("/v2/images", json={}).json()["id"]
    calls: list[Callable[[], Any]] = [
        lambda i=i: client.put(f"/v2/images/{image_id}/tags/t{i}") for i in range(12)]
    calls += [lambda i=i: _patch(client, image_id, _replace(
        "/tags", [f"p{i}-{j}" for j in range(6)])) for i in range(4)]
    results = _together(calls)
    assert all(r.status_code in (200, 204, 413) for r in results), [r.text for r in results]
    assert len(client.get(f"/v2/images/{image_id}").json()["tags"]) <= 10


def test_concurrent_patches_all_survive(client: TestClient, create_image: CreateImage) -> None:
    image_id = create_image()["id"]
    results = _together([lambda i=i: _patch(client, image_id, {"op": "add", "path": f"/k{i}",
                                                               "value": str(i)})
                         for i in range(20)])
    assert [r.status_code for r in results] == [200] * 20
    shown = client.get(f"/v2/images/{image_id}").json()
    assert {f"k{i}" for i in range(20)} <= set(shown), sorted(shown)


def test_patch_beside_put_tag_loses_no_tag(client: TestClient, create_image: CreateImage) -> None:
    image_id = create_image()["id"]
    calls: list[Callable[[], Any]] = []
    for i in range(10):
        calls.append(lambda i=i: client.put(f"/v2/images/{image_id}/tags/t{i}"))
        calls.append(lambda i=i: _patch(client, image_id, {"op": "add", "path": f"/p{i}",
                                                           "value": "v"}))
    results = _together(calls)
    assert sorted(r.status_code for r in results) == [200] * 10 + [204] * 10
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["tags"] == sorted(f"t{i}" for i in range(10))
    assert {f"p{i}" for i in range(10)} <= set(shown)


# -- leftovers: DELETE during a stage, staged data never imported ---------------------------

def test_delete_during_stage_removes_the_staged_file(settings: Settings) -> None:
    async def delete(c: httpx.AsyncClient, image_id: str) -> int:
        return (await c.delete(f"/v2/images/{image_id}")).status_code

    staged, deleted, image = asyncio.run(_during_slow_put(settings, "stage", delete))
    assert (deleted, staged, image) == (204, 410, {"status": 404})
    leftovers = [p for p in settings.staging_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_staged_data_never_imported_expires(tmp_path: Path) -> None:
    from dataclasses import replace
    with running_api(Settings(data_dir=tmp_path, staging_expiry=3600)) as api:
        old, fresh = (api.create(disk_format="raw", container_format="bare")["id"]
                      for _ in range(2))
        for image_id in (old, fresh):
            assert api.stage(image_id, b"\x01" * 4096).status_code == 204
        staged_old = api.settings.staging_dir / old
        os.utime(staged_old, (time.time() - 7200, time.time() - 7200))
        staging = api.svc.imports.staging
        assert staging.expire() == 1
        assert (api.show(old)["status"], staged_old.exists()) == ("queued", False)
        assert api.show(fresh)["status"] == "uploading"
        # an image whose import holds the lock is never expired under it
        api.svc.deps.repo.claim_property(fresh, "os_glance_import_task", "t")
        assert staging.expire(now=time.time() + 7200) == 0
        assert api.show(fresh)["status"] == "uploading"
        # the expired image can be staged and imported again
        assert api.stage(old, b"\x02" * 4096).status_code == 204
        task = api.import_and_wait(old, {"method": {"name": "glance-direct"}})
        assert task["status"] == "success", task
    # the maintenance sweep of a running server does the same without being asked
    with running_api(replace(Settings(data_dir=tmp_path / "b"), staging_expiry=1,
                             maintenance_interval=1)) as api:
        image_id = api.create(disk_format="raw", container_format="bare")["id"]
        assert api.stage(image_id, b"\x01" * 4096).status_code == 204
        _wait_status(api, image_id, "queued", timeout=20)
        assert not (api.settings.staging_dir / image_id).exists()
