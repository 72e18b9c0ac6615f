"""PUT/DELETE /v2/images/{id}/tags/{tag} (§1.1)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import TestClient, json_error


@pytest.fixture
def image(create_image: CreateImage) -> dict[str, Any]:
    return create_image(name="tagged")


def tags(client: TestClient, image_id: str) -> list[str]:
    return sorted(client.get(f"/v2/images/{image_id}").json()["tags"])


def test_add_tag_is_204_and_idempotent(client: TestClient, image: dict[str, Any]) -> None:
    for _ in range(2):
        resp = client.put(f"/v2/images/{image['id']}/tags/web")
        assert resp.status_code == 204
        assert resp.content == b""
    assert tags(client, image["id"]) == ["web"]
    assert client.put(f"/v2/images/{image['id']}/tags/db").status_code == 204
    assert tags(client, image["id"]) == ["db", "web"]


def test_add_tag_updates_updated_at_and_listing(client: TestClient,
                                                image: dict[str, Any]) -> None:
    assert client.put(f"/v2/images/{image['id']}/tags/x").status_code == 204
    after = client.get(f"/v2/images/{image['id']}").json()
    assert after["updated_at"] >= image["updated_at"]
    assert [i["id"] for i in client.get("/v2/images?tag=x").json()["images"]] == [image["id"]]


def test_delete_tag(client: TestClient, image: dict[str, Any]) -> None:
    client.put(f"/v2/images/{image['id']}/tags/a")
    client.put(f"/v2/images/{image['id']}/tags/b")
    resp = client.delete(f"/v2/images/{image['id']}/tags/a")
    assert resp.status_code == 204
    assert resp.content == b""
    assert tags(client, image["id"]) == ["b"]


def test_delete_missing_tag_is_404(client: TestClient, image: dict[str, Any]) -> None:
    json_error(client.delete(f"/v2/images/{image['id']}/tags/nope"), 404)
    client.put(f"/v2/images/{image['id']}/tags/once")
    assert client.delete(f"/v2/images/{image['id']}/tags/once").status_code == 204
    json_error(client.delete(f"/v2/images/{image['id']}/tags/once"), 404)


def test_tag_length(client: TestClient, image: dict[str, Any]) -> None:
    json_error(client.put(f"/v2/images/{image['id']}/tags/{'t' * 256}"), 400)
    assert tags(client, image["id"]) == []
    assert client.put(f"/v2/images/{image['id']}/tags/{'t' * 255}").status_code == 204
    assert tags(client, image["id"]) == ["t" * 255]


def test_tag_with_escaped_characters(client: TestClient, image: dict[str, Any]) -> None:
    assert client.put(f"/v2/images/{image['id']}/tags/a%20b%C3%A9").status_code == 204
    assert tags(client, image["id"]) == ["a bé"]
    assert client.delete(f"/v2/images/{image['id']}/tags/a%20b%C3%A9").status_code == 204


def test_tags_on_unknown_image_are_404(client: TestClient) -> None:
    missing = str(uuid.uuid4())
    json_error(client.put(f"/v2/images/{missing}/tags/x"), 404)
    json_error(client.delete(f"/v2/images/{missing}/tags/x"), 404)


def test_tag_quota_is_413(client: TestClient, create_image: CreateImage) -> None:
    image = create_image(tags=[f"t{i}" for i in range(128)])
    json_error(client.put(f"/v2/images/{image['id']}/tags/one-more"), 413)
    # re-adding an existing tag is not a new tag
    assert client.put(f"/v2/images/{image['id']}/tags/t0").status_code == 204
    assert len(tags(client, image["id"])) == 128


def test_tags_replace_via_patch_then_tag_endpoint(client: TestClient,
                                                  image: dict[str, Any]) -> None:
    resp = client.patch(f"/v2/images/{image['id']}",
                        json=[{"op": "replace", "path": "/tags", "value": ["p", "q"]}],
                        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert resp.status_code == 200
    assert client.delete(f"/v2/images/{image['id']}/tags/p").status_code == 204
    assert tags(client, image["id"]) == ["q"]
