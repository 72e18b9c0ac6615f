"""POST /v2/images: status, headers, the exact record shape, and every refusal (§1.1, §1.2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import ISOTIME, UUID_RE, TestClient, json_error

#: every key Glance's ``_format_image`` always emits (single store, no direct_url/locations).
RECORD_KEYS = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
    "container_format", "owner", "created_at", "updated_at", "tags", "self", "file", "schema",
}


def test_create_minimal_record_shape(client: TestClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    resp = client.post("/v2/images", json={})
    after = datetime.now(UTC)
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == RECORD_KEYS
    image_id = body["id"]
    assert UUID_RE.match(image_id)
    assert uuid.UUID(image_id).version == 4
    assert body == {
        "id": image_id, "name": None, "status": "queued", "visibility": "shared",
        "protected": False, "os_hidden": False, "checksum": None, "os_hash_algo": None,
        "os_hash_value": None, "size": None, "virtual_size": None, "min_ram": 0, "min_disk": 0,
        "disk_format": None, "container_format": None, "owner": body["owner"],
        "created_at": body["created_at"], "updated_at": body["updated_at"], "tags": [],
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    assert isinstance(body["owner"], str) and body["owner"]
    for key in ("created_at", "updated_at"):
        assert ISOTIME.match(body[key]), body[key]
        stamp = datetime.strptime(body[key], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before - timedelta(seconds=1) <= stamp <= after
    # show returns the very same record
    assert client.get(f"/v2/images/{image_id}").json() == body


def test_create_headers(client: TestClient) -> None:
    resp = client.post("/v2/images", json={"name": "h"})
    image_id = resp.json()["id"]
    # webob may make Location absolute; the path is what clients use.
    assert resp.headers["location"].endswith(f"/v2/images/{image_id}")
    assert resp.headers["openstack-image-import-methods"] == "glance-direct,web-download,copy-image"
    # single store: no store ids header
    assert "openstack-image-store-ids" not in resp.headers


def test_create_full_body_round_trips(client: TestClient) -> None:
    body = {
        "name": "cirros", "visibility": "public", "protected": True, "os_hidden": True,
        "min_ram": 512, "min_disk": 1, "disk_format": "qcow2", "container_format": "bare",
        "tags": ["b", "a", "b"], "hw_disk_bus": "virtio", "os_distro": "cirros",
    }
    resp = client.post("/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    got = resp.json()
    assert set(got) == RECORD_KEYS | {"hw_disk_bus", "os_distro"}
    for key in ("name", "visibility", "protected", "os_hidden", "min_ram", "min_disk",
                "disk_format", "container_format", "hw_disk_bus", "os_distro"):
        assert got[key] == body[key], key
    assert sorted(got["tags"]) == ["a", "b"]
    assert got["status"] == "queued"
    shown = client.get(f"/v2/images/{got['id']}").json()
    # tags are a set in Glance: compare them without order
    assert {**shown, "tags": sorted(shown["tags"])} == {**got, "tags": sorted(got["tags"])}


def test_create_with_client_uuid(client: TestClient) -> None:
    wanted = str(uuid.uuid4())
    resp = client.post("/v2/images", json={"id": wanted})
    assert resp.status_code == 201
    assert resp.json()["id"] == wanted
    assert client.get(f"/v2/images/{wanted}").status_code == 200


def test_create_with_uppercase_uuid_keeps_the_id(client: TestClient) -> None:
    # Glance's schema accepts upper-case hex and stores the id as given: the id a client
    # chose must be the id it can fetch.
    wanted = str(uuid.uuid4()).upper()
    resp = client.post("/v2/images", json={"id": wanted})
    assert resp.status_code == 201
    assert resp.json()["id"] == wanted
    assert client.get(f"/v2/images/{wanted}").status_code == 200


@pytest.mark.parametrize("bad", ["not-a-uuid", "", 12, None, "1234567890123456789012345678901234567",
                                 "g0000000-0000-0000-0000-000000000000"])
def test_create_with_invalid_id_is_400(client: TestClient, bad: object) -> None:
    json_error(client.post("/v2/images", json={"id": bad}), 400)
    assert client.get("/v2/images").json()["images"] == []


def test_create_duplicate_id_is_409(client: TestClient) -> None:
    wanted = str(uuid.uuid4())
    assert client.post("/v2/images", json={"id": wanted, "name": "one"}).status_code == 201
    json_error(client.post("/v2/images", json={"id": wanted, "name": "two"}), 409)
    assert client.get(f"/v2/images/{wanted}").json()["name"] == "one"


@pytest.mark.parametrize("field", ["created_at", "updated_at", "status", "checksum", "size",
                                   "virtual_size", "direct_url", "self", "file", "schema",
                                   "os_hash_algo", "os_hash_value", "stores"])
def test_create_read_only_is_403(client: TestClient, field: str) -> None:
    json_error(client.post("/v2/images", json={field: "x"}), 403)
    assert client.get("/v2/images").json()["images"] == []


@pytest.mark.parametrize("field", ["os_glance_import_task", "os_glance_anything", "location",
                                   "deleted", "deleted_at", "locations"])
def test_create_reserved_is_403(client: TestClient, field: str) -> None:
    value: Any = [] if field == "locations" else "x"
    json_error(client.post("/v2/images", json={field: value}), 403)
    assert client.get("/v2/images").json()["images"] == []


def test_create_bad_json_is_400(client: TestClient) -> None:
    resp = client.post("/v2/images", content=b'{"name": ', headers={"Content-Type": "application/json"})
    json_error(resp, 400)


def test_create_empty_body_is_400(client: TestClient) -> None:
    resp = client.post("/v2/images", content=b"", headers={"Content-Type": "application/json"})
    json_error(resp, 400)


@pytest.mark.parametrize("kind", ["text/plain", "application/xml",
                                  "application/x-www-form-urlencoded"])
def test_create_wrong_content_type_is_415(client: TestClient, kind: str) -> None:
    resp = client.post("/v2/images", content=b'{"name": "x"}', headers={"Content-Type": kind})
    json_error(resp, 415)
    assert client.get("/v2/images").json()["images"] == []


def test_create_json_content_type_with_charset_is_ok(client: TestClient) -> None:
    resp = client.post("/v2/images", content=b'{"name": "x"}',
                       headers={"Content-Type": "application/json; charset=UTF-8"})
    assert resp.status_code == 201


@pytest.mark.parametrize("body", [b"[]", b'"name"', b"42", b"null", b"true", b'[{"name": "x"}]'])
def test_create_non_object_body_is_400(client: TestClient, body: bytes) -> None:
    json_error(client.post("/v2/images", content=body,
                           headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"], {"a": "b"}])
def test_create_extra_property_must_be_string(client: TestClient, value: object) -> None:
    json_error(client.post("/v2/images", json={"hw_disk_bus": value}), 400)


def test_create_property_key_length(client: TestClient) -> None:
    json_error(client.post("/v2/images", json={"k" * 256: "v"}), 400)
    resp = client.post("/v2/images", json={"k" * 255: "v"})
    assert resp.status_code == 201
    assert resp.json()["k" * 255] == "v"


@pytest.mark.parametrize(("field", "value"), [
    ("min_ram", -1), ("min_disk", -1), ("min_ram", "1"), ("min_disk", 1.5),
    ("min_ram", True), ("min_ram", 2**31),
])
def test_create_bad_min_values_are_400(client: TestClient, field: str, value: object) -> None:
    json_error(client.post("/v2/images", json={field: value}), 400)


@pytest.mark.parametrize(("field", "value"), [
    ("disk_format", "qcow3"), ("disk_format", "RAW"), ("disk_format", 1),
    ("container_format", "zip"), ("visibility", "everyone"), ("visibility", None),
    ("protected", "true"), ("os_hidden", 1), ("name", 5), ("name", "n" * 256),
    ("tags", "a"), ("tags", [1]), ("tags", ["t" * 256]), ("owner", 7),
])
def test_create_schema_violations_are_400(client: TestClient, field: str, value: object) -> None:
    json_error(client.post("/v2/images", json={field: value}), 400)
    assert client.get("/v2/images").json()["images"] == []


@pytest.mark.parametrize("fmt", ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2",
                                 "vdi", "iso", "ploop"])
def test_create_every_disk_format(create_image: CreateImage, fmt: str) -> None:
    assert create_image(disk_format=fmt)["disk_format"] == fmt


def test_create_null_formats_and_name(client: TestClient) -> None:
    resp = client.post("/v2/images", json={"name": None, "disk_format": None,
                                           "container_format": None})
    assert resp.status_code == 201
    body = resp.json()
    assert (body["name"], body["disk_format"], body["container_format"]) == (None, None, None)


def test_create_name_of_255_chars(client: TestClient) -> None:
    resp = client.post("/v2/images", json={"name": "n" * 255})
    assert resp.status_code == 201
    assert resp.json()["name"] == "n" * 255


def test_create_property_quota_is_413(client: TestClient) -> None:
    body = {f"p{i}": "v" for i in range(129)}
    json_error(client.post("/v2/images", json=body), 413)
    body.pop("p0")
    assert client.post("/v2/images", json=body).status_code == 201


def test_show_unknown_is_404(client: TestClient) -> None:
    json_error(client.get(f"/v2/images/{uuid.uuid4()}"), 404)
    json_error(client.get("/v2/images/not-a-uuid"), 404)
