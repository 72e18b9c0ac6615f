"""GET /v2/images/{id}/file (§1.8): whole, ranged, empty, refused."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import TestClient, json_error, md5

DATA = bytes(range(256)) * 4 + b"tail-bytes"  # 1034 bytes, every offset distinguishable


@pytest.fixture
def image(active_image: Any) -> dict[str, Any]:
    record: dict[str, Any] = active_image(data=DATA)
    return record


def url(image: dict[str, Any]) -> str:
    return f"/v2/images/{image['id']}/file"


def test_download_whole(client: TestClient, image: dict[str, Any]) -> None:
    resp = client.get(url(image))
    assert resp.status_code == 200
    assert resp.content == DATA
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-length"] == str(len(DATA))
    # Glance sends the image checksum in hex (not base64 as RFC 1864 says)
    assert resp.headers["content-md5"] == md5(DATA) == image["checksum"]
    assert "content-range" not in resp.headers


def test_download_large_image_streams_correctly(client: TestClient, active_image: Any) -> None:
    data = os.urandom((5 << 20) + 3)
    image = active_image(data=data)
    resp = client.get(url(image))
    assert resp.status_code == 200
    assert md5(resp.content) == md5(data)


def test_download_queued_image_is_204(client: TestClient, create_image: CreateImage) -> None:
    image = create_image()
    resp = client.get(url(image))
    assert resp.status_code == 204
    assert resp.content == b""
    assert "content-md5" not in resp.headers


def test_download_unknown_image_is_404(client: TestClient) -> None:
    json_error(client.get("/v2/images/00000000-0000-0000-0000-000000000000/file"), 404)


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, len(DATA) - 1),
    ("bytes=-5", len(DATA) - 5, len(DATA) - 1),
    ("bytes=1000-99999", 1000, len(DATA) - 1),
    ("bytes=-100000", 0, len(DATA) - 1),
    ("bytes=1033-1033", 1033, 1033),
    ("bytes=0-0", 0, 0),
])
def test_range(client: TestClient, image: dict[str, Any], header: str, start: int,
               end: int) -> None:
    resp = client.get(url(image), headers={"Range": header})
    assert resp.status_code == 206
    assert resp.content == DATA[start:end + 1]
    assert resp.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert resp.headers["content-length"] == str(end - start + 1)
    # sent even on 206: the md5 of the whole image
    assert resp.headers["content-md5"] == md5(DATA)


def test_legacy_content_range_request_header(client: TestClient, image: dict[str, Any]) -> None:
    resp = client.get(url(image), headers={"Content-Range": f"bytes 2-5/{len(DATA)}"})
    assert resp.status_code == 206
    assert resp.content == DATA[2:6]
    assert resp.headers["content-range"] == f"bytes 2-5/{len(DATA)}"


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 5}-{len(DATA) + 9}",
                                    "bytes=99999999999999999999999-"])
def test_range_start_beyond_size_is_416(client: TestClient, image: dict[str, Any],
                                        header: str) -> None:
    resp = client.get(url(image), headers={"Range": header})
    json_error(resp, 416)
    assert resp.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,3-4", "bytes=0-1, 5-"])
def test_multiple_ranges_are_400(client: TestClient, image: dict[str, Any], header: str) -> None:
    json_error(client.get(url(image), headers={"Range": header}), 400)


@pytest.mark.parametrize("header", ["bytes=", "bytes=-", "bytes=a-b", "items=0-1", "bytes=5-2",
                                    "0-9", "bytes=-0", "bytes 0-9", "bytes=--1"])
def test_malformed_range_is_416(client: TestClient, image: dict[str, Any], header: str) -> None:
    json_error(client.get(url(image), headers={"Range": header}), 416)


@pytest.mark.parametrize("header", ["bytes 5-2/1034", "bytes x-y/1034", "bytes 0-9"])
def test_malformed_legacy_content_range_is_416(client: TestClient, image: dict[str, Any],
                                               header: str) -> None:
    json_error(client.get(url(image), headers={"Content-Range": header}), 416)


def test_range_on_empty_image_is_416(client: TestClient, active_image: Any) -> None:
    image = active_image(data=b"")
    json_error(client.get(url(image), headers={"Range": "bytes=0-"}), 416)
    json_error(client.get(url(image), headers={"Range": "bytes=-1"}), 416)


def test_download_deactivated_image(client: TestClient, image: dict[str, Any]) -> None:
    """Glance refuses a deactivated image's data to non-admins only (403); admins get it.

    The test client is an admin (noauth, or the standalone admin's token), so the API follows
    the admin branch of the reference: 200. The rule itself lives in DataService.plan_download
    and is checked for a non-admin context in the next test.
    """
    assert client.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    resp = client.get(url(image))
    assert resp.status_code == 200
    assert resp.content == DATA


def test_deactivated_image_is_forbidden_to_non_admins(client: TestClient,
                                                      image: dict[str, Any]) -> None:
    from cowshed.domain.context import RequestContext
    from cowshed.errors import Forbidden

    services = client.app.state.services  # type: ignore[attr-defined]
    member = RequestContext(user_id="u", project_id=image["owner"],
                            roles=frozenset({"member", "reader"}), is_admin=False,
                            request_id="req-test")
    assert client.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    with pytest.raises(Forbidden):
        services.data.plan_download(member, image["id"], None, [], None)
    assert client.post(f"/v2/images/{image['id']}/actions/reactivate").status_code == 204
    plan = services.data.plan_download(member, image["id"], None, [], None)
    assert plan is not None and plan.length == len(DATA)


def test_head_on_file(client: TestClient, image: dict[str, Any]) -> None:
    resp = client.head(url(image))
    assert resp.status_code == 200
    assert resp.content == b""
