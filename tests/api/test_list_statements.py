"""GET /v2/images and GET /v2/images/{id} send a fixed number of SQL statements: the page's
tags, properties and locations are read for all its rows at once, never once per image."""

from __future__ import annotations

import sqlalchemy as sa

from cowshed.db.explain import captured
from tests.api.conftest import CreateImage
from tests.api.helpers import TestClient


def _engine(client: TestClient) -> sa.Engine:
    engine: sa.Engine = client.app.state.services.deps.repo.engine  # type: ignore[attr-defined]
    return engine


def _statements(client: TestClient, path: str) -> int:
    with captured(_engine(client)) as statements:
        resp = client.get(path)
    assert resp.status_code == 200, resp.text
    return len(statements)


def test_list_statements_do_not_grow_with_the_page(client: TestClient,
                                                   create_image: CreateImage) -> None:
    for i in range(12):
        create_image(name=f"img-{i}", tags=["a", f"t{i}"], os_distro="debian", build=str(i))
    one = _statements(client, "/v2/images?limit=1")
    twelve = _statements(client, "/v2/images?limit=12")
    assert one == twelve
    marker = client.get("/v2/images?limit=1").json()["images"][0]["id"]
    paged = _statements(client, f"/v2/images?limit=11&marker={marker}")
    assert paged == one + 1  # finding the marker's row
    filtered = _statements(client, "/v2/images?limit=12&tag=a&os_distro=debian")
    assert filtered == one
    shown = client.get(f"/v2/images/{marker}").json()
    assert shown["tags"] and shown["os_distro"] == "debian"
    assert _statements(client, f"/v2/images/{marker}") <= one + 1
