"""Defects the OpenAPI fuzzing (tests/integration/test_openapi_fuzz.py) found, one test each,
so they stay fixed even if the generator stops drawing the input that showed them."""

from __future__ import annotations

import pytest

from tests.api.helpers import PATCH21, TestClient, json_error


@pytest.mark.parametrize("value", [{}, [], ["public"], {"public": 1}])
def test_unhashable_visibility_is_a_400_on_create(client: TestClient, value: object) -> None:
    """Was a 500: the visibility check looked a JSON object up in a set (TypeError)."""
    resp = client.post("/v2/images", json={"visibility": value})
    assert "visibility" in json_error(resp, 400)


@pytest.mark.parametrize("value", [{}, ["private"]])
def test_unhashable_visibility_is_a_400_on_patch(client: TestClient, value: object) -> None:
    image = client.post("/v2/images", json={}).json()
    resp = client.patch(f"/v2/images/{image['id']}", headers={"Content-Type": PATCH21},
                        json=[{"op": "replace", "path": "/visibility", "value": value}])
    json_error(resp, 400)
    assert client.get(f"/v2/images/{image['id']}").json()["visibility"] == "shared"


@pytest.mark.parametrize("value", [{}, ["public"]])
def test_unhashable_visibility_is_a_400_on_a_metadefs_namespace(client: TestClient,
                                                                 value: object) -> None:
    """The same set lookup in the metadefs namespace rules (found by reading, same root cause)."""
    resp = client.post("/v2/metadefs/namespaces", json={"namespace": "fuzz", "visibility": value})
    assert "visibility" in json_error(resp, 400)
