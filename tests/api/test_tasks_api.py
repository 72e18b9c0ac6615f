"""GET /v2/tasks and POST /v2/tasks (Glance's legacy task API) with Glance's 400s."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cowshed.domain.context import RequestContext
from cowshed.errors import Forbidden
from tests.api.helpers import TestClient, json_error

IMPORT_TASK: dict[str, Any] = {"type": "import", "input": {
    "import_from": "http://nowhere.invalid/x.qcow2", "import_from_format": "qcow2",
    "image_properties": {"disk_format": "qcow2", "container_format": "bare"}}}


def _create(client: TestClient, body: Any = None) -> dict[str, Any]:
    resp = client.post("/v2/tasks", json=IMPORT_TASK if body is None else body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/v2/tasks/{resp.json()['id']}"
    task: dict[str, Any] = resp.json()
    return task


def test_legacy_import_task_is_recorded_and_fails_without_fetching(client: TestClient) -> None:
    task = _create(client)
    assert (task["type"], task["status"]) == ("import", "failure")
    assert "POST /v2/images/{id}/import" in task["message"]
    assert task["input"] == IMPORT_TASK["input"] and task["expires_at"]
    shown = client.get(f"/v2/tasks/{task['id']}").json()
    assert shown["status"] == "failure"
    # no image was made from image_properties
    assert client.get("/v2/images").json()["images"] == []
    json_error(client.delete(f"/v2/tasks/{task['id']}"), 405)


@pytest.mark.parametrize("body", [
    {"input": {}}, {"type": "import"}, {"type": "convert", "input": {}},
    {"type": "import", "input": []}, {"type": "import", "input": {}, "status": "success"},
    {"type": "import", "input": {**IMPORT_TASK["input"], "import_from": "file:///etc/passwd"}},
    {"type": "import", "input": {**IMPORT_TASK["input"], "import_from": "ftp://x/y"}},
    {"type": "import", "input": {"import_from": "http://x/y"}}, [],
])
def test_bad_task_bodies_are_400(client: TestClient, body: Any) -> None:
    json_error(client.post("/v2/tasks", json=body), 400)


def test_internal_task_types_are_refused(client: TestClient) -> None:
    json_error(client.post("/v2/tasks", json={"type": "api_image_import", "input": {}}), 403)


def test_list_filters_sort_and_pages(client: TestClient) -> None:
    made = [_create(client)["id"] for _ in range(3)]
    listed = client.get("/v2/tasks").json()
    assert [t["id"] for t in listed["tasks"]] == made[::-1]
    assert "input" not in listed["tasks"][0] and listed["schema"] == "/v2/schemas/tasks"
    page = client.get("/v2/tasks", params={"limit": 2, "sort_dir": "asc"}).json()
    assert [t["id"] for t in page["tasks"]] == made[:2]
    rest = client.get(page["next"]).json()
    assert [t["id"] for t in rest["tasks"]] == made[2:] and "next" not in rest
    assert client.get("/v2/tasks", params={"status": "success"}).json()["tasks"] == []
    assert len(client.get("/v2/tasks", params={"type": "import",
                                                "status": "failure"}).json()["tasks"]) == 3
    assert client.get("/v2/tasks", params={"type": "api_image_import"}).json()["tasks"] == []
    by_id = client.get("/v2/tasks", params={"sort_key": "id", "sort_dir": "asc"}).json()
    assert [t["id"] for t in by_id["tasks"]] == sorted(made)


@pytest.mark.parametrize("params", [
    {"limit": "x"}, {"limit": "-1"}, {"sort_key": "input"}, {"sort_dir": "sideways"},
    {"status": "done"}, {"type": "convert"}, {"marker": "not-a-uuid"},
    {"marker": str(uuid.uuid4())},
])
def test_bad_list_queries_are_400(client: TestClient, params: dict[str, str]) -> None:
    json_error(client.get("/v2/tasks", params=params), 400)


def test_a_project_member_may_not_use_the_task_api(client: TestClient) -> None:
    svc = client.app.state.services.tasks  # type: ignore[attr-defined]
    member = RequestContext(user_id="u", project_id="p1", roles=frozenset({"member", "reader"}),
                            is_admin=False, request_id="req-1")
    with pytest.raises(Forbidden):
        svc.create(member, IMPORT_TASK)
