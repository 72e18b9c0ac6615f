"""Deactivate / reactivate, protected images and delete (§1.1, §1.5, §1.9)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import PATCH21, TestClient, json_error


def status(client: TestClient, image_id: str) -> str:
    value: str = client.get(f"/v2/images/{image_id}").json()["status"]
    return value


def action(client: TestClient, image_id: str, name: str) -> Any:
    return client.post(f"/v2/images/{image_id}/actions/{name}")


def test_deactivate_and_reactivate(client: TestClient, active_image: Any) -> None:
    image = active_image()
    resp = action(client, image["id"], "deactivate")
    assert resp.status_code == 204
    assert resp.content == b""
    assert status(client, image["id"]) == "deactivated"
    # deactivating again is allowed (Glance: active or deactivated)
    assert action(client, image["id"], "deactivate").status_code == 204
    assert status(client, image["id"]) == "deactivated"
    resp = action(client, image["id"], "reactivate")
    assert resp.status_code == 204
    assert status(client, image["id"]) == "active"
    assert action(client, image["id"], "reactivate").status_code == 204
    assert status(client, image["id"]) == "active"


@pytest.mark.parametrize("name", ["deactivate", "reactivate"])
def test_actions_on_queued_image_are_403(client: TestClient, create_image: CreateImage,
                                         name: str) -> None:
    image = create_image()
    json_error(action(client, image["id"], name), 403)
    assert status(client, image["id"]) == "queued"


@pytest.mark.parametrize("name", ["deactivate", "reactivate"])
def test_actions_on_unknown_image_are_404(client: TestClient, name: str) -> None:
    json_error(action(client, str(uuid.uuid4()), name), 404)


def test_unknown_action_is_404(client: TestClient, active_image: Any) -> None:
    json_error(action(client, active_image()["id"], "explode"), 404)


def test_deactivated_image_keeps_its_record(client: TestClient, active_image: Any) -> None:
    image = active_image()
    action(client, image["id"], "deactivate")
    after = client.get(f"/v2/images/{image['id']}").json()
    assert {k: v for k, v in after.items() if k not in ("status", "updated_at")} == {
        k: v for k, v in image.items() if k not in ("status", "updated_at")}


def test_delete_removes_record_and_file(client: TestClient, active_image: Any,
                                        data_dir: Path) -> None:
    image = active_image()
    stored = data_dir / "images" / image["id"]
    assert stored.is_file()
    resp = client.delete(f"/v2/images/{image['id']}")
    assert resp.status_code == 204
    assert resp.content == b""
    json_error(client.get(f"/v2/images/{image['id']}"), 404)
    json_error(client.get(f"/v2/images/{image['id']}/file"), 404)
    json_error(client.delete(f"/v2/images/{image['id']}"), 404)
    assert not stored.exists()
    assert [p for p in (data_dir / "images").rglob("*") if p.is_file()] == []
    assert client.get("/v2/images").json()["images"] == []


def test_delete_queued_and_deactivated(client: TestClient, create_image: CreateImage,
                                       active_image: Any) -> None:
    queued = create_image()
    assert client.delete(f"/v2/images/{queued['id']}").status_code == 204
    deactivated = active_image()
    action(client, deactivated["id"], "deactivate")
    assert client.delete(f"/v2/images/{deactivated['id']}").status_code == 204
    assert client.get("/v2/images").json()["images"] == []


def test_protected_delete_is_403(client: TestClient, active_image: Any, data_dir: Path) -> None:
    image = active_image(protected=True)
    json_error(client.delete(f"/v2/images/{image['id']}"), 403)
    assert status(client, image["id"]) == "active"
    assert (data_dir / "images" / image["id"]).is_file()
    resp = client.patch(f"/v2/images/{image['id']}",
                        content=json.dumps([{"op": "replace", "path": "/protected",
                                             "value": False}]),
                        headers={"Content-Type": PATCH21})
    assert resp.status_code == 200
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert not (data_dir / "images" / image["id"]).exists()


def test_delete_unknown_is_404(client: TestClient) -> None:
    json_error(client.delete(f"/v2/images/{uuid.uuid4()}"), 404)


def test_deleted_image_id_can_be_reused_and_uploaded(client: TestClient, upload: Any) -> None:
    wanted = str(uuid.uuid4())
    body = {"id": wanted, "disk_format": "raw", "container_format": "bare"}
    assert client.post("/v2/images", json=body).status_code == 201
    assert upload(wanted, b"one").status_code == 204
    assert client.delete(f"/v2/images/{wanted}").status_code == 204
    assert client.post("/v2/images", json=body).status_code == 201
    assert client.get(f"/v2/images/{wanted}/file").status_code == 204
    assert upload(wanted, b"two").status_code == 204
    assert client.get(f"/v2/images/{wanted}/file").content == b"two"


def test_row_marked_deleted_is_invisible(client: TestClient, active_image: Any) -> None:
    """A delete marks the row first; until it is gone, clients already see a 404."""
    from cowshed.domain.images import ImageStatus

    image = active_image()
    repo = client.app.state.services.deps.repo  # type: ignore[attr-defined]
    repo.set_status(image["id"], ImageStatus.ACTIVE, ImageStatus.DELETED)
    base = f"/v2/images/{image['id']}"
    json_error(client.get(base), 404)
    json_error(client.get(base + "/file"), 404)
    json_error(client.delete(base), 404)
    json_error(client.put(base + "/tags/x"), 404)
    json_error(client.post(base + "/actions/deactivate"), 404)
    json_error(client.patch(base, content=b"[]", headers={"Content-Type": PATCH21}), 404)
    assert client.get("/v2/images").json()["images"] == []
    assert client.get("/v2/images?status=deleted").json()["images"] == []
