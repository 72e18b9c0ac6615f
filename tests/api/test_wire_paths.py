"""Trailing slashes and empty path segments: 404 as Glance's routes answer, never a redirect."""

from __future__ import annotations

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import TestClient, json_error


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "PUT", "POST"])
def test_images_with_an_empty_id_is_404(client: TestClient, method: str) -> None:
    """Tempest's test_get_image_null_id / test_delete_image_null_id: not the list, not 405."""
    for prefix in ("", "/image"):
        resp = client.request(method, f"{prefix}/v2/images/", follow_redirects=False)
        json_error(resp, 404)


@pytest.mark.parametrize("template", [
    "/v2/images/{id}/", "/v2/images/{id}/file/", "/v2/images//file", "/v2//images/{id}",
    "/v2/images/{id}//file", "/v2/images/{id}/tags/", "/v2/images/{id}/members/",
    "/v2/schemas/image/", "/v2/info/import/", "/v2/tasks/", "/v2/images/{id}/actions/",
    "//v2/images/{id}", "/image/v2/images/{id}/", "/versions/",
])
def test_trailing_slash_and_empty_segment_are_404(client: TestClient, create_image: CreateImage,
                                                  template: str) -> None:
    image = create_image()
    resp = client.get(template.format(id=image["id"]), follow_redirects=False)
    json_error(resp, 404)
    # the image is untouched by any of them
    assert client.get(f"/v2/images/{image['id']}").status_code == 200


def test_discovery_roots_still_answer(client: TestClient) -> None:
    for path in ("/", "/v2", "/v2/", "/image", "/image/", "/image/v2/"):
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 300, (path, resp.status_code)
    assert client.get("/versions").status_code == 200
