"""/healthcheck (Glance's path) and /metrics (Prometheus) on the in-process app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from cowshed.config import Settings
from cowshed.errors import BackendUnavailable
from tests.api._import_fixtures import Api, running_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(Settings(data_dir=tmp_path / "data")) as running:
        yield running


def samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = api.client.get("/metrics", headers={"Accept": "text/plain"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthcheck_is_ok_when_database_and_stores_answer(api: Api) -> None:
    resp = api.client.get("/healthcheck", headers={"Accept": "text/plain"})
    assert (resp.status_code, resp.text) == (200, "OK")
    detail = api.client.get("/healthcheck").json()  # the fixture's client accepts JSON
    assert detail["status"] == "ok"
    assert set(detail["checks"]) == {"database", "store:file"}
    assert all(c["ok"] for c in detail["checks"].values())


def test_healthcheck_is_503_naming_a_failed_store(api: Api) -> None:
    store = api.svc.deps.stores.get("file")

    def down(key: str) -> bool:
        raise BackendUnavailable("the store went away")

    store.exists = down  # type: ignore[method-assign]
    resp = api.client.get("/healthcheck", headers={"Accept": "text/plain"})
    assert resp.status_code == 503
    assert resp.text == "FAIL: store:file: the store went away"
    detail = api.client.get("/healthcheck").json()
    assert detail["status"] == "fail"
    assert detail["checks"]["database"]["ok"] is True
    assert detail["checks"]["store:file"] == {**detail["checks"]["store:file"], "ok": False,
                                              "detail": "the store went away"}


def test_healthcheck_is_503_when_the_database_fails(api: Api) -> None:
    def gone() -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    api.svc.deps.repo.ping = gone  # type: ignore[method-assign]
    resp = api.client.get("/healthcheck", headers={"Accept": "text/plain"})
    assert resp.status_code == 503
    assert resp.text.startswith("FAIL: database: OperationalError")


def test_metrics_count_requests_bytes_latency_errors_and_imports(api: Api) -> None:
    before = samples(api)
    image_id = api.create(name="m", disk_format="raw", container_format="bare")["id"]
    data = b"x" * 100_000
    assert api.upload(image_id, data).status_code == 204
    for _ in range(3):
        assert api.client.get(f"/v2/images/{image_id}").status_code == 200
    assert api.client.get(f"/v2/images/{image_id}/file").content == data
    assert api.client.get("/v2/images/no-such-image").status_code == 404
    assert api.client.get("/nowhere/at/all").status_code == 404

    staged = api.create(name="s", disk_format="raw", container_format="bare")["id"]
    assert api.stage(staged, data).status_code == 204
    task = api.import_and_wait(staged, {"method": {"name": "glance-direct"}})
    assert task["status"] == "success"

    store = api.svc.deps.stores.get("file")

    def broken(*args: object) -> None:
        raise BackendUnavailable("disk controller on fire")

    store.open_writer = broken  # type: ignore[assignment,method-assign]
    failing = api.create(name="f", disk_format="raw", container_format="bare")["id"]
    assert api.upload(failing, data).status_code == 503

    after = samples(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    one = "/v2/images/{image_id}"
    assert grew("cowshed_http_requests_total", method="GET", route=one, status="200") == 3
    assert grew("cowshed_http_requests_total", method="GET", route=one, status="404") == 1
    assert grew("cowshed_http_requests_total", method="GET", route="unmatched",
                status="404") == 1
    assert grew("cowshed_http_requests_total", method="PUT", route=one + "/file",
                status="204") == 1
    assert grew("cowshed_http_received_bytes_total", route=one + "/file") >= len(data)
    assert grew("cowshed_http_sent_bytes_total", route=one + "/file") >= len(data)
    assert grew("cowshed_http_request_duration_seconds_count", method="GET", route=one) == 4
    assert grew("cowshed_backend_errors_total", kind="BackendUnavailable") == 1
    assert grew("cowshed_imports_total", method="glance-direct", result="success") == 1
