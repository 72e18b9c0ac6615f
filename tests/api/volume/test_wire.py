"""The Block Storage API's wire rules that hold for every route: discovery, microversion
negotiation, request ids, both URL forms, and Cinder's fault bodies for routing errors."""

from __future__ import annotations

import re

import pytest

from tests.api.helpers import TestClient

REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
P = "/volume/v3/5b7e4ad0bd3f4a2e9d1d8f00a8c6d1e2"


def _version(resp: object) -> str:
    return resp.headers["OpenStack-API-Version"]  # type: ignore[attr-defined,no-any-return]


def test_root_answers_300_with_the_version_list(client: TestClient) -> None:
    resp = client.get("/volume/")
    assert resp.status_code == 300
    (doc,) = resp.json()["versions"]
    assert doc["id"] == "v3.0" and doc["status"] == "CURRENT"
    assert doc["min_version"] == "3.0" and doc["version"] == "3.71"
    assert {"rel": "self", "href": "http://testserver/volume/v3/"} in doc["links"]
    assert doc["media-types"][0]["type"] == "application/vnd.openstack.volume+json;version=3"


@pytest.mark.parametrize("path", ["/volume/v3/", "/volume/v3", P])
def test_v3_answers_200_with_its_document(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["id"] == "v3.0"


def test_every_answer_carries_version_vary_and_request_id(client: TestClient) -> None:
    for path in ("/volume/", P + "/types", P + "/no-such-thing", "/volume/v3/limits-x"):
        resp = client.get(path)
        assert _version(resp) == "volume 3.0", path
        assert resp.headers["Vary"] == "OpenStack-API-Version"
        assert REQ_ID.match(resp.headers["x-openstack-request-id"])
    ids = {client.get(P + "/types").headers["x-openstack-request-id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(("header", "served"), [
    ("volume 3.27", "volume 3.27"),
    ("volume latest", "volume 3.71"),
    ("volume 3.0", "volume 3.0"),
    ("compute 2.90", "volume 3.0"),              # another service's entry is not ours
    ("compute 2.1, volume 3.44", "volume 3.44"),  # a list names several services
    ("Volume 3.63", "volume 3.63"),
])
def test_version_negotiation(client: TestClient, header: str, served: str) -> None:
    resp = client.get(P + "/types", headers={"OpenStack-API-Version": header})
    assert resp.status_code == 200
    assert _version(resp) == served


@pytest.mark.parametrize("version", ["3.72", "4.0", "2.0", "3.100"])
def test_out_of_range_version_is_406_compute_fault(client: TestClient, version: str) -> None:
    resp = client.get(P + "/types", headers={"OpenStack-API-Version": f"volume {version}"})
    assert resp.status_code == 406
    fault = resp.json()["computeFault"]
    assert fault["code"] == 406
    assert fault["message"] == (f"Version {version} is not supported by the API. Minimum is "
                                "3.0 and maximum is 3.71.")
    assert REQ_ID.match(resp.headers["x-openstack-request-id"])


@pytest.mark.parametrize("version", ["3", "3.x", "v3.1", "3.01", "03.1", "", "latest2"])
def test_malformed_version_is_400(client: TestClient, version: str) -> None:
    resp = client.get(P + "/types", headers={"OpenStack-API-Version": f"volume {version}"})
    assert resp.status_code == 400
    assert "is of invalid format" in resp.json()["badRequest"]["message"]


def test_project_and_projectless_forms_route_alike(client: TestClient) -> None:
    with_project = client.get(P + "/types").json()
    without = client.get("/volume/v3/types").json()
    assert with_project == without
    assert with_project["volume_types"][0]["name"] == "file"


def test_unknown_paths_and_backups_are_item_not_found(client: TestClient) -> None:
    for path in (P + "/backups", P + "/backups/detail", P + "/nothing", "/volume/v2/x"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.json() == {"itemNotFound": {"code": 404,
                                                "message": "The resource could not be found."}}


def test_wrong_method_is_a_fault_too(client: TestClient) -> None:
    resp = client.patch(P + "/volumes")
    assert resp.status_code == 405
    assert resp.json()["badMethod"]["code"] == 405
    assert set(resp.headers["Allow"].split(", ")) == {"POST", "GET"}


def test_image_api_is_untouched(client: TestClient) -> None:
    resp = client.get("/v2/images")
    assert resp.status_code == 200
    assert "OpenStack-API-Version" not in resp.headers
