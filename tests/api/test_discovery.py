"""Version documents, schemas, the /image prefix, unknown paths, wrong methods, error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import UUID_RE, TestClient, json_error


def _check_versions(body: dict[str, Any], href_suffix: str) -> None:
    versions = body["versions"]
    ids = [v["id"] for v in versions]
    # single-store: 2.17 CURRENT, 2.14-2.16 and 2.0-2.7 SUPPORTED; 2.8-2.13 need multistore.
    assert ids[0] == "v2.17"
    assert versions[0]["status"] == "CURRENT"
    assert all(v["status"] == "SUPPORTED" for v in versions[1:])
    assert set(ids) == {f"v2.{m}" for m in (*range(14, 18), *range(0, 8))}
    for v in versions:
        assert set(v) == {"id", "status", "links"}
        assert v["links"] == [{"rel": "self", "href": v["links"][0]["href"]}]
        assert v["links"][0]["href"].endswith(href_suffix)


@pytest.mark.parametrize("prefix", ["", "/image"])
def test_root_is_300_multiple_choices(client: TestClient, prefix: str) -> None:
    resp = client.get(prefix + "/")
    assert resp.status_code == 300
    assert resp.headers["content-type"] == "application/json"
    _check_versions(resp.json(), f"{prefix}/v2/")


@pytest.mark.parametrize("prefix", ["", "/image"])
def test_versions_is_200(client: TestClient, prefix: str) -> None:
    resp = client.get(prefix + "/versions")
    assert resp.status_code == 200
    _check_versions(resp.json(), f"{prefix}/v2/")


def test_image_prefix_serves_the_whole_api(client: TestClient) -> None:
    created = client.post("/image/v2/images", json={"name": "p"})
    assert created.status_code == 201
    image_id = created.json()["id"]
    assert client.get(f"/image/v2/images/{image_id}").json()["name"] == "p"
    assert [i["id"] for i in client.get("/image/v2/images").json()["images"]] == [image_id]
    assert client.get("/image/v2/schemas/image").status_code == 200
    assert client.delete(f"/image/v2/images/{image_id}").status_code == 204
    assert client.get(f"/v2/images/{image_id}").status_code == 404


def test_image_schema(client: TestClient) -> None:
    resp = client.get("/v2/schemas/image")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["name"] == "image"
    props = schema["properties"]
    for key in ("id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
                "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram",
                "min_disk", "disk_format", "container_format", "created_at", "updated_at",
                "tags", "self", "file", "schema", "direct_url", "locations"):
        assert key in props, key
    assert schema["additionalProperties"] == {"type": "string"}
    assert props["status"]["readOnly"] is True
    assert props["visibility"]["enum"] == ["community", "public", "private", "shared"]
    assert props["disk_format"]["enum"] == [None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk",
                                            "raw", "qcow2", "vdi", "iso", "ploop"]
    assert props["container_format"]["enum"] == [None, "ami", "ari", "aki", "bare", "ovf",
                                                 "ova", "docker", "compressed"]
    assert {link["rel"] for link in schema["links"]} == {"self", "enclosure", "describedby"}


def test_images_schema(client: TestClient) -> None:
    resp = client.get("/v2/schemas/images")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["name"] == "images"
    assert set(schema["properties"]) == {"images", "schema", "first", "next"}
    assert schema["properties"]["images"]["items"]["name"] == "image"
    assert {link["rel"] for link in schema["links"]} == {"first", "next", "describedby"}


def test_unknown_schema_is_404(client: TestClient) -> None:
    json_error(client.get("/v2/schemas/nope"), 404)


@pytest.mark.parametrize("path", ["/v3/images", "/v2/imagez", "/v2/images/x/y/z", "/nope",
                                  "/image/nope"])
def test_unknown_path_is_404(client: TestClient, path: str) -> None:
    json_error(client.get(path), 404)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/v2/images", {"GET", "POST"}),
    ("DELETE", "/v2/images", {"GET", "POST"}),
    ("POST", "/v2/images/{id}", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/v2/images/{id}", {"GET", "PATCH", "DELETE"}),
    ("POST", "/v2/images/{id}/file", {"GET", "PUT"}),
    ("DELETE", "/v2/images/{id}/file", {"GET", "PUT"}),
    ("GET", "/v2/images/{id}/actions/deactivate", {"POST"}),
    ("GET", "/v2/images/{id}/tags/t", {"PUT", "DELETE"}),
    ("POST", "/versions", {"GET"}),
    ("POST", "/", {"GET"}),
])
def test_wrong_method_is_405_with_allow(client: TestClient, method: str, path: str,
                                        allowed: set[str]) -> None:
    image_id = client.post("/v2/images", json={}).json()["id"]
    resp = client.request(method, path.replace("{id}", image_id))
    json_error(resp, 405)
    # Glance's RejectMethodController lists every method the path has, not just one route's.
    listed = {m.strip() for m in resp.headers["allow"].split(",")}
    assert listed - {"HEAD"} == allowed


def test_error_body_json_when_accepted(client: TestClient) -> None:
    resp = client.get(f"/v2/images/{'0' * 8}-0000-0000-0000-{'0' * 12}",
                      headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"message", "code", "title"}
    assert body["code"] == "404 Not Found"
    assert body["title"] == "Not Found"
    assert "00000000-0000-0000-0000-000000000000" in body["message"]


def test_error_body_plain_text_otherwise(client: TestClient) -> None:
    resp = client.get(f"/v2/images/{'0' * 8}-0000-0000-0000-{'0' * 12}",
                      headers={"Accept": "text/plain"})
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text.startswith("404 Not Found\n\n")
    assert "00000000-0000-0000-0000-000000000000" in resp.text


def test_error_body_405_json(client: TestClient) -> None:
    resp = client.put("/v2/images", headers={"Accept": "application/json"})
    assert resp.status_code == 405
    assert resp.json()["code"] == "405 Method Not Allowed"


def test_created_id_is_uuid(client: TestClient) -> None:
    assert UUID_RE.match(client.post("/v2/images", json={}).json()["id"])
