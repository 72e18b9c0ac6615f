"""The OpenAPI description (api/image/openapi.yaml) and the code cannot drift apart.

Its operations are exactly the route table's (method, path) pairs; its enums are the domain's;
and the server hands out the packaged file, without a token, at /openapi.yaml and under /image.
What the server answers is checked against it by tests/integration/test_openapi_fuzz.py.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml

from cowshed.api.image.query import API_SORT_KEYS
from cowshed.api.image.routes import table
from cowshed.domain.images import CONTAINER_FORMATS, DISK_FORMATS, ImageStatus
from cowshed.domain.tasks import TASK_SORT_KEYS, TASK_TYPES, TaskStatus
from tests.api.helpers import TestClient

METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def spec() -> dict[str, Any]:
    text = files("cowshed.api.image").joinpath("openapi.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items()
            for method in item if method in METHODS}


def test_described_operations_are_the_route_table() -> None:
    routes = {(method, path) for method, path, _ in table()}
    described = operations(spec())
    assert described - routes == set(), "described but not served"
    assert routes - described == set(), "served but not described"


def test_operation_ids_are_unique_and_links_point_at_them() -> None:
    doc = spec()
    ids = [op["operationId"] for item in doc["paths"].values()
           for method, op in item.items() if method in METHODS]
    assert len(ids) == len(set(ids))
    for item in doc["paths"].values():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids, link


def test_every_status_code_is_a_code_and_errors_share_one_shape() -> None:
    for item in spec()["paths"].values():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for code, response in op["responses"].items():
                assert 200 <= int(code) < 600
                assert int(code) < 500 or int(code) == 503, (method, code)
                if int(code) >= 400:
                    assert response["$ref"].startswith("#/components/responses/Error")


def test_enums_are_the_domains() -> None:
    schemas = spec()["components"]["schemas"]
    assert schemas["ImageStatus"]["enum"] == [s.value for s in ImageStatus]
    assert schemas["DiskFormat"]["enum"] == list(DISK_FORMATS)
    assert schemas["ContainerFormat"]["enum"] == list(CONTAINER_FORMATS)
    assert schemas["SortKey"]["enum"] == list(API_SORT_KEYS)
    assert schemas["TaskType"]["enum"] == list(TASK_TYPES)
    assert set(schemas["Task"]["properties"]["status"]["enum"]) == {s.value for s in TaskStatus}
    tasks = {p["name"]: p for p in spec()["paths"]["/v2/tasks"]["get"]["parameters"]}
    assert set(tasks["sort_key"]["schema"]["enum"]) == set(TASK_SORT_KEYS)


def test_image_view_keys_are_described(client: TestClient) -> None:
    """Every key of a real image record is a described property (custom ones aside)."""
    image = client.post("/v2/images", json={"name": "described"}).json()
    described = spec()["components"]["schemas"]["Image"]["properties"]
    assert set(image) <= set(described)
    assert set(spec()["components"]["schemas"]["Image"]["required"]) <= set(image)


def test_the_server_hands_out_the_description(client: TestClient) -> None:
    for path in ("/openapi.yaml", "/image/openapi.yaml"):
        resp = client.get(path, headers={"X-Auth-Token": ""})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/yaml")
        assert yaml.safe_load(resp.text) == spec()


def test_single_store_answers_are_described(client: TestClient) -> None:
    """The fuzz run uses two stores; with one, the store operations are 404, as described."""
    paths = spec()["paths"]
    image = client.post("/v2/images", json={}).json()
    for method, url, described in (
            ("GET", "/v2/info/stores", "/v2/info/stores"),
            ("GET", "/v2/info/stores/detail", "/v2/info/stores/detail"),
            ("DELETE", f"/v2/stores/fast/{image['id']}", "/v2/stores/{store}/{image_id}")):
        resp = client.request(method, url, headers={"Accept": "application/json"})
        assert resp.status_code == 404, (url, resp.text)
        assert "404" in paths[described][method.lower()]["responses"]
    resp = client.get(f"/v2/images/{image['id']}/file", params={"prefer": "fast"})
    assert resp.status_code == 400
    assert "400" in paths["/v2/images/{image_id}/file"]["get"]["responses"]
