"""Bad input the wire layer refuses before any volume is touched: each answer is Cinder's
status code with its fault body, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import TestClient

P = "/volume/v3/5b7e4ad0bd3f4a2e9d1d8f00a8c6d1e2"
VID = "0b3c7f4e-2a61-4c1e-9a57-3f0c2b1d9e88"


def _fault(resp: Any, status: int, key: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == [key], body
    assert body[key]["code"] == status
    message: str = body[key]["message"]
    return message


@pytest.mark.parametrize(("size", "words"), [
    (0, "less than the minimum of 1"),
    (-1, "less than the minimum of 1"),
    ("-1", "does not match"),
    (2**31, "greater than the maximum"),
    (10**30, "greater than the maximum"),
    (1.5, "is not of type"),
    ("1.5", "does not match"),
    ("ten", "does not match"),
    (True, "is not of type"),
    ([1], "is not of type"),
    (None, "is not of type"),
    ("", "does not match"),
    ("\u0661", "does not match"),  # a non-ASCII digit
])
def test_create_size_refused(client: TestClient, size: object, words: str) -> None:
    resp = client.post(P + "/volumes", json={"volume": {"size": size}})
    assert words in _fault(resp, 400, "badRequest")


@pytest.mark.parametrize("body", [
    b"{", b"not json", b"[1, 2", b'{"volume": {"size": 1}', b"\xff\xfe", b"",
])
def test_malformed_json_is_bad_request(client: TestClient, body: bytes) -> None:
    resp = client.post(P + "/volumes", content=body, headers={"Content-Type": "application/json"})
    _fault(resp, 400, "badRequest")


@pytest.mark.parametrize("body", [{}, {"volumes": {"size": 1}}, [], {"volume": 1},
                                  {"volume": "x"}, {"volume": None}])
def test_create_without_a_volume_object(client: TestClient, body: object) -> None:
    resp = client.post(P + "/volumes", json=body)
    _fault(resp, 400, "badRequest")


@pytest.mark.parametrize("field", [
    {"name": "x" * 256}, {"description": 5}, {"metadata": []}, {"metadata": {"k": 1}},
    {"metadata": {"": "v"}}, {"metadata": {"k" * 256: "v"}}, {"multiattach": "perhaps"},
    {"availability_zone": "elsewhere"}, {"imageRef": 5}, {"snapshot_id": 3},
    {"source_volid": ""}, {"volume_type": 7},
])
def test_create_field_refused(client: TestClient, field: dict[str, object]) -> None:
    resp = client.post(P + "/volumes", json={"volume": {"size": 1, **field}})
    _fault(resp, 400, "badRequest")


def test_wrong_content_type_is_415(client: TestClient) -> None:
    resp = client.post(P + "/volumes", content=b'{"volume": {"size": 1}}',
                       headers={"Content-Type": "text/plain"})
    _fault(resp, 415, "badMediaType")


def test_huge_body_is_413(client: TestClient) -> None:
    big = b'{"volume": {"name": "' + b"x" * (2 << 20) + b'"}}'
    resp = client.post(P + "/volumes", content=big, headers={"Content-Type": "application/json"})
    _fault(resp, 413, "overLimit")


@pytest.mark.parametrize("body", [
    {"os-no-such-action": {}}, {"os-extend2": {"new_size": 2}}, {"revert ": {}},
])
def test_unknown_action(client: TestClient, body: dict[str, object]) -> None:
    resp = client.post(f"{P}/volumes/{VID}/action", json=body)
    message = _fault(resp, 400, "badRequest")
    assert message == f"There is no such action: {next(iter(body))}"


@pytest.mark.parametrize("body", [b"{}", b'{"os-extend": {}, "os-reserve": null}', b"[]",
                                  b"nonsense", b'"os-reserve"'])
def test_malformed_action_body(client: TestClient, body: bytes) -> None:
    resp = client.post(f"{P}/volumes/{VID}/action", content=body,
                       headers={"Content-Type": "application/json"})
    assert _fault(resp, 400, "badRequest") == "Malformed request body"


@pytest.mark.parametrize("new_size", [0, -5, "abc", 1.25, None, 2**40])
def test_extend_size_refused(client: TestClient, new_size: object) -> None:
    resp = client.post(f"{P}/volumes/{VID}/action", json={"os-extend": {"new_size": new_size}})
    _fault(resp, 400, "badRequest")


@pytest.mark.parametrize(("action", "args"), [
    ("os-reset_status", {"status": "sleeping"}),
    ("os-reset_status", {"attach_status": "glued"}),
    ("os-reset_status", {}),
    ("os-attach", {"instance_uuid": VID}),
    ("os-attach", {"mountpoint": "/dev/vdb"}),
    ("os-attach", {"mountpoint": "/dev/vdb", "instance_uuid": VID, "mode": "rx"}),
    ("os-initialize_connection", {}),
    ("os-initialize_connection", {"connector": "host"}),
    ("os-set_bootable", {}),
    ("os-set_bootable", {"bootable": "maybe"}),
    ("os-update_readonly_flag", {}),
    ("os-volume_upload_image", {}),
    ("os-volume_upload_image", {"image_name": "x", "disk_format": "iso"}),
    ("os-extend", "big"),
])
def test_action_arguments_refused(client: TestClient, action: str, args: object) -> None:
    resp = client.post(f"{P}/volumes/{VID}/action", json={action: args})
    _fault(resp, 400, "badRequest")


def test_revert_needs_3_40(client: TestClient) -> None:
    resp = client.post(f"{P}/volumes/{VID}/action", json={"revert": {"snapshot_id": VID}})
    _fault(resp, 404, "itemNotFound")


@pytest.mark.parametrize("query", [
    "limit=x", "limit=-1", "offset=-2", "offset=z", "sort_dir=sideways",
    "sort=name:up", "sort=created_at&sort_key=name", "metadata=[1,2]", "metadata=%7B",
])
def test_list_query_refused(client: TestClient, query: str) -> None:
    for collection in ("volumes", "volumes/detail", "snapshots", "snapshots/detail"):
        resp = client.get(f"{P}/{collection}?{query}")
        _fault(resp, 400, "badRequest")


def test_with_count_needs_a_boolean_from_3_45(client: TestClient) -> None:
    resp = client.get(P + "/volumes?with_count=often",
                      headers={"OpenStack-API-Version": "volume 3.45"})
    _fault(resp, 400, "badRequest")


def test_attachments_need_3_27(client: TestClient) -> None:
    for method, path in (("GET", "/attachments"), ("GET", "/attachments/detail"),
                         ("GET", f"/attachments/{VID}"), ("DELETE", f"/attachments/{VID}")):
        resp = client.request(method, P + path)
        _fault(resp, 404, "itemNotFound")


@pytest.mark.parametrize("body", [{}, {"snapshot": {}}, {"snapshot": {"volume_id": 5}},
                                  {"snapshot": {"volume_id": VID, "force": "sometimes"}},
                                  {"snapshot": {"volume_id": VID, "name": "n" * 300}}])
def test_snapshot_create_refused(client: TestClient, body: object) -> None:
    resp = client.post(P + "/snapshots", json=body)
    _fault(resp, 400, "badRequest")


def test_unknown_type_is_item_not_found(client: TestClient) -> None:
    resp = client.get(P + "/types/no-such-type")
    _fault(resp, 404, "itemNotFound")
    resp = client.get(P + "/types/default")
    _fault(resp, 404, "itemNotFound")  # below 3.62 "default" is just an unknown id
