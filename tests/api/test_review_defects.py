"""Small wire defects found in review, each pinned: bad UTF-8 in a path, an oversized
web-download URI."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import TestClient, json_error


@pytest.fixture
def image(create_image: CreateImage) -> dict[str, Any]:
    return create_image(name="reviewed")


@pytest.mark.parametrize("tag", ["%FF%FE", "%C3", "ok%80", "%ED%A0%80"])
def test_a_tag_that_is_not_utf8_is_400_and_not_stored(
        client: TestClient, image: dict[str, Any], tag: str) -> None:
    url = f"/v2/images/{image['id']}/tags/{tag}"
    assert "not valid UTF-8" in json_error(client.put(url, headers={"Accept": "application/json"}), 400)
    assert json_error(client.delete(url, headers={"Accept": "application/json"}), 400)
    assert client.get(f"/v2/images/{image['id']}").json()["tags"] == []


def test_a_utf8_tag_still_works(client: TestClient, image: dict[str, Any]) -> None:
    assert client.put(f"/v2/images/{image['id']}/tags/%C3%A9t%C3%A9").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["tags"] == ["été"]


def test_a_64_kib_web_download_uri_is_refused_at_once(
        client: TestClient, image: dict[str, Any]) -> None:
    uri = "http://example.com/" + "a" * (64 << 10)
    r = client.post(f"/v2/images/{image['id']}/import", headers={"Accept": "application/json"},
                    json={"method": {"name": "web-download", "uri": uri}})
    assert "longer than" in json_error(r, 400)
    record = client.get(f"/v2/images/{image['id']}").json()
    assert record["status"] == "queued"
    assert not any(k.startswith("os_glance") for k in record)
    assert client.get(f"/v2/images/{image['id']}/tasks").json()["tasks"] == []
