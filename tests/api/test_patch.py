"""PATCH /v2/images/{id}: both JSON-patch media types with Glance's exact semantics (§1.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import PATCH20, PATCH21, TestClient, json_error


def patch(client: TestClient, image_id: str, ops: Any, kind: str = PATCH21) -> Any:
    return client.patch(f"/v2/images/{image_id}", content=json.dumps(ops),
                        headers={"Content-Type": kind})


@pytest.fixture
def image(create_image: CreateImage) -> dict[str, Any]:
    return create_image(name="orig", hw_disk_bus="virtio", os_distro="cirros")


def shown(client: TestClient, image_id: str) -> dict[str, Any]:
    record: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
    return record


@pytest.mark.parametrize("kind", [PATCH21, PATCH20, PATCH21 + "; charset=utf-8"])
def test_patch_returns_full_record(client: TestClient, image: dict[str, Any], kind: str) -> None:
    ops: list[dict[str, Any]]
    if kind.startswith(PATCH20):
        ops = [{"replace": "/name", "value": "renamed"}]
    else:
        ops = [{"op": "replace", "path": "/name", "value": "renamed"}]
    resp = patch(client, image["id"], ops, kind)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "renamed"
    assert body == shown(client, image["id"])
    assert set(body) == set(image)
    assert body["updated_at"] >= image["updated_at"]


@pytest.mark.parametrize("kind", ["application/json", "application/json-patch+json",
                                  "text/plain", ""])
def test_patch_other_media_type_is_415_with_accept_patch(
    client: TestClient, image: dict[str, Any], kind: str,
) -> None:
    resp = client.patch(f"/v2/images/{image['id']}",
                        content=json.dumps([{"op": "replace", "path": "/name", "value": "x"}]),
                        headers={"Content-Type": kind} if kind else {})
    json_error(resp, 415)
    offered = {v.strip() for v in resp.headers["accept-patch"].split(",")}
    assert offered == {PATCH21, PATCH20}
    assert shown(client, image["id"])["name"] == "orig"


def test_add_custom_property(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "add", "path": "/hw_vif_model", "value": "e1000"}])
    assert resp.status_code == 200
    assert resp.json()["hw_vif_model"] == "e1000"


def test_v21_add_upserts_existing_property(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "add", "path": "/hw_disk_bus", "value": "scsi"}])
    assert resp.status_code == 200
    assert resp.json()["hw_disk_bus"] == "scsi"
    # add of a base attribute sets it too
    resp = patch(client, image["id"], [{"op": "add", "path": "/name", "value": "n2"}])
    assert resp.status_code == 200
    assert resp.json()["name"] == "n2"


def test_v20_add_existing_property_is_409(client: TestClient, image: dict[str, Any]) -> None:
    json_error(patch(client, image["id"], [{"add": "/hw_disk_bus", "value": "scsi"}], PATCH20),
               409)
    assert shown(client, image["id"])["hw_disk_bus"] == "virtio"
    # Glance's _do_add: with json_schema_version 4, hasattr(image, name) counts as present,
    # so a base attribute conflicts as well.
    json_error(patch(client, image["id"], [{"add": "/name", "value": "x"}], PATCH20), 409)
    assert shown(client, image["id"])["name"] == "orig"
    resp = patch(client, image["id"], [{"add": "/new_prop", "value": "v"}], PATCH20)
    assert resp.status_code == 200
    assert resp.json()["new_prop"] == "v"


def test_v20_ops(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [
        {"replace": "/hw_disk_bus", "value": "ide"},
        {"remove": "/os_distro"},
        {"replace": "/min_ram", "value": 64},
    ], PATCH20)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["hw_disk_bus"] == "ide"
    assert "os_distro" not in body
    assert body["min_ram"] == 64


def test_replace_existing_property(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "replace", "path": "/hw_disk_bus", "value": "ide"}])
    assert resp.status_code == 200
    assert resp.json()["hw_disk_bus"] == "ide"


@pytest.mark.parametrize("kind", [PATCH21, PATCH20])
def test_replace_missing_property_is_409(client: TestClient, image: dict[str, Any],
                                         kind: str) -> None:
    op = ({"op": "replace", "path": "/nope", "value": "x"} if kind == PATCH21
          else {"replace": "/nope", "value": "x"})
    message = json_error(patch(client, image["id"], [op], kind), 409)
    assert "nope" in message
    assert "nope" not in shown(client, image["id"])


def test_remove_property(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "remove", "path": "/os_distro"}])
    assert resp.status_code == 200
    assert "os_distro" not in resp.json()
    assert "os_distro" not in shown(client, image["id"])


def test_remove_missing_property_is_409(client: TestClient, image: dict[str, Any]) -> None:
    json_error(patch(client, image["id"], [{"op": "remove", "path": "/nope"}]), 409)


@pytest.mark.parametrize("attr", ["name", "visibility", "protected", "min_ram", "min_disk",
                                  "disk_format", "container_format", "tags", "os_hidden",
                                  "owner"])
def test_remove_base_attribute_is_403(client: TestClient, image: dict[str, Any],
                                      attr: str) -> None:
    json_error(patch(client, image["id"], [{"op": "remove", "path": f"/{attr}"}]), 403)


@pytest.mark.parametrize("attr", ["id", "status", "checksum", "size", "virtual_size",
                                  "created_at", "updated_at", "self", "file", "schema",
                                  "os_hash_algo", "os_hash_value", "direct_url", "stores"])
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
def test_read_only_is_403(client: TestClient, image: dict[str, Any], attr: str,
                          op: str) -> None:
    body: dict[str, Any] = {"op": op, "path": f"/{attr}"}
    if op != "remove":
        body["value"] = "x"
    json_error(patch(client, image["id"], [body]), 403)
    assert shown(client, image["id"]) == image


@pytest.mark.parametrize("attr", ["os_glance_import_task", "os_glance_x", "deleted",
                                  "deleted_at", "location"])
def test_reserved_is_403(client: TestClient, image: dict[str, Any], attr: str) -> None:
    json_error(patch(client, image["id"], [{"op": "add", "path": f"/{attr}", "value": "x"}]),
               403)


def test_locations_without_show_multiple_locations_is_403(
    client: TestClient, image: dict[str, Any],
) -> None:
    json_error(patch(client, image["id"], [{"op": "replace", "path": "/locations",
                                            "value": []}]), 403)
    json_error(patch(client, image["id"], [{"op": "add", "path": "/locations/-",
                                            "value": {"url": "http://x", "metadata": {}}}]), 403)


def test_disk_format_change_on_active_image_is_403(
    client: TestClient, active_image: Any,
) -> None:
    image = active_image()
    for attr, value in (("disk_format", "qcow2"), ("container_format", "ova")):
        json_error(patch(client, image["id"], [{"op": "replace", "path": f"/{attr}",
                                                "value": value}]), 403)
    assert shown(client, image["id"])["disk_format"] == "raw"
    # other attributes stay writable on an active image
    resp = patch(client, image["id"], [{"op": "replace", "path": "/name", "value": "ok"}])
    assert resp.status_code == 200


def test_disk_format_change_on_queued_image(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "replace", "path": "/disk_format",
                                        "value": "qcow2"}])
    assert resp.status_code == 200
    assert resp.json()["disk_format"] == "qcow2"


@pytest.mark.parametrize("path", ["name", "/", "//name", "/name/", "/na~2me", "/na~me",
                                  "/name/x", "/hw_disk_bus/0", "", 5, None, "/~"])
def test_bad_pointer_is_400(client: TestClient, image: dict[str, Any], path: object) -> None:
    json_error(patch(client, image["id"], [{"op": "replace", "path": path, "value": "x"}]), 400)


def test_pointer_escapes(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "add", "path": "/a~1b~0c", "value": "v"}])
    assert resp.status_code == 200, resp.text
    assert resp.json()["a/b~c"] == "v"


@pytest.mark.parametrize("op", ["test", "move", "copy", "ADD", "", None, 1])
def test_unsupported_op_is_400(client: TestClient, image: dict[str, Any], op: object) -> None:
    json_error(patch(client, image["id"], [{"op": op, "path": "/name", "value": "x",
                                            "from": "/name"}]), 400)


@pytest.mark.parametrize("ops", [
    [{"test": "/name", "value": "x"}],
    [{"add": "/a", "replace": "/b", "value": "x"}],
    [{"value": "x"}],
])
def test_v20_malformed_ops_are_400(client: TestClient, image: dict[str, Any],
                                   ops: list[dict[str, Any]]) -> None:
    json_error(patch(client, image["id"], ops, PATCH20), 400)


@pytest.mark.parametrize("op", ["add", "replace"])
def test_missing_value_is_400(client: TestClient, image: dict[str, Any], op: str) -> None:
    json_error(patch(client, image["id"], [{"op": op, "path": "/hw_disk_bus"}]), 400)


@pytest.mark.parametrize("body", [{"op": "add"}, "x", 5, None, [5], ["add"], [[]]])
def test_body_must_be_array_of_objects(client: TestClient, image: dict[str, Any],
                                       body: object) -> None:
    json_error(patch(client, image["id"], body), 400)


def test_empty_op_list_is_ok(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [])
    assert resp.status_code == 200
    assert resp.json()["name"] == "orig"


@pytest.mark.parametrize(("attr", "value"), [
    ("name", 5), ("name", "n" * 256), ("min_ram", -1), ("min_disk", -5), ("min_ram", "5"),
    ("visibility", "world"), ("protected", "yes"), ("os_hidden", None),
    ("disk_format", "qcow3"), ("container_format", "zip"), ("tags", "x"), ("tags", [5]),
    ("hw_disk_bus", 5), ("hw_disk_bus", None), ("k" * 256, "v"),
])
def test_schema_violation_is_400(client: TestClient, image: dict[str, Any], attr: str,
                                 value: object) -> None:
    op = "replace" if attr in image else "add"
    json_error(patch(client, image["id"], [{"op": op, "path": f"/{attr}", "value": value}]), 400)
    assert shown(client, image["id"]) == image


@pytest.mark.parametrize(("failing", "status"), [
    ({"op": "replace", "path": "/nope", "value": "x"}, 409),
    ({"op": "remove", "path": "/name"}, 403),
    ({"op": "replace", "path": "/status", "value": "active"}, 403),
    ({"op": "replace", "path": "/min_ram", "value": -1}, 400),
])
def test_patch_is_atomic(client: TestClient, image: dict[str, Any], failing: dict[str, Any],
                         status: int) -> None:
    ops = [
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "add", "path": "/extra", "value": "1"},
        {"op": "remove", "path": "/os_distro"},
        {"op": "replace", "path": "/tags", "value": ["a"]},
        failing,
    ]
    json_error(patch(client, image["id"], ops), status)
    assert shown(client, image["id"]) == image


def test_ops_apply_in_order(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [
        {"op": "add", "path": "/p", "value": "1"},
        {"op": "replace", "path": "/p", "value": "2"},
        {"op": "remove", "path": "/p"},
        {"op": "add", "path": "/p", "value": "3"},
    ])
    assert resp.status_code == 200
    assert resp.json()["p"] == "3"


def test_replace_tags(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [{"op": "replace", "path": "/tags",
                                        "value": ["x", "y", "x"]}])
    assert resp.status_code == 200
    assert sorted(resp.json()["tags"]) == ["x", "y"]
    resp = patch(client, image["id"], [{"op": "replace", "path": "/tags", "value": []}])
    assert resp.json()["tags"] == []
    assert shown(client, image["id"])["tags"] == []


def test_patch_base_attributes(client: TestClient, image: dict[str, Any]) -> None:
    resp = patch(client, image["id"], [
        {"op": "replace", "path": "/visibility", "value": "public"},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/os_hidden", "value": True},
        {"op": "replace", "path": "/min_disk", "value": 20},
        {"op": "replace", "path": "/name", "value": None},
    ])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["visibility"], body["protected"], body["os_hidden"], body["min_disk"],
            body["name"]) == ("public", True, True, 20, None)


def test_patch_unknown_image_is_404(client: TestClient) -> None:
    json_error(patch(client, "00000000-0000-0000-0000-000000000000",
                     [{"op": "replace", "path": "/name", "value": "x"}]), 404)


def test_patch_bad_json_is_400(client: TestClient, image: dict[str, Any]) -> None:
    resp = client.patch(f"/v2/images/{image['id']}", content=b"[{",
                        headers={"Content-Type": PATCH21})
    json_error(resp, 400)


def test_patch_property_quota_is_413(client: TestClient, create_image: CreateImage) -> None:
    image = create_image(**{f"p{i}": "v" for i in range(128)})
    json_error(patch(client, image["id"], [{"op": "add", "path": "/one_more", "value": "v"}]),
               413)
