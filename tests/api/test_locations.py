"""POST/GET /v2/images/{id}/locations: only a store's own location, read back and inspected."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import CreateImage
from tests.api.helpers import TestClient, json_error

TERMINAL = ("success", "failure")


def _store(client: TestClient) -> Any:
    svc = client.app.state.services  # type: ignore[attr-defined]
    return svc.deps.stores.get(svc.deps.stores.default_name)


def _place(client: TestClient, image_id: str, data: bytes) -> str:
    """Put bytes where the default file store keeps the image, as an outside service would;
    return the store's location URL for them."""
    store = _store(client)
    path = Path(store.local_path(image_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    url: str = store.location(image_id)
    return url


def _wait(client: TestClient, image_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        done = [t for t in tasks if t["type"] == "location_import" and t["status"] in TERMINAL]
        if done:
            return done[-1]
        time.sleep(0.05)
    raise AssertionError(f"location check of {image_id} did not finish")


def test_registered_location_is_hashed_and_activated(client: TestClient,
                                                     create_image: CreateImage) -> None:
    data = os.urandom(9 << 20)  # more than one 8 MiB block
    image = create_image()
    url = _place(client, image["id"], data)
    sha = hashlib.sha512(data).hexdigest()
    resp = client.post(f"/v2/images/{image['id']}/locations",
                       json={"url": url, "validation_data": {"os_hash_algo": "sha512",
                                                             "os_hash_value": sha}})
    assert resp.status_code == 202, resp.text
    task = _wait(client, image["id"])
    assert task["status"] == "success", task["message"]
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest() and shown["os_hash_value"] == sha
    listed = client.get(f"/v2/images/{image['id']}/locations").json()
    assert listed == [{"url": url, "metadata": {"store": _store(client).name}}]
    assert client.get(f"/v2/images/{image['id']}/file").content == data
    # a second location on an active image: 409 as Glance
    json_error(client.post(f"/v2/images/{image['id']}/locations", json={"url": url}), 409)


def test_mismatching_validation_data_returns_the_image_to_queued(
        client: TestClient, create_image: CreateImage) -> None:
    image = create_image()
    url = _place(client, image["id"], b"x" * 4096)
    resp = client.post(f"/v2/images/{image['id']}/locations",
                       json={"url": url, "validation_data": {"os_hash_value": "0" * 128}})
    assert resp.status_code == 202, resp.text
    task = _wait(client, image["id"])
    assert task["status"] == "failure" and "sha512" in task["message"]
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "queued" and shown["checksum"] is None
    assert client.get(f"/v2/images/{image['id']}/locations").json() == []


def test_unsafe_bytes_are_refused_like_an_upload(client: TestClient, create_image: CreateImage,
                                                 tmp_path: Path) -> None:
    """A qcow2 with a backing file, registered as raw: the inspector refuses it."""
    backing = tmp_path / "base.raw"
    backing.write_bytes(b"\0" * 65536)
    hostile = tmp_path / "hostile.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(backing),
                    str(hostile)], check=True)
    image = create_image(disk_format="raw")
    url = _place(client, image["id"], hostile.read_bytes())
    assert client.post(f"/v2/images/{image['id']}/locations", json={"url": url}).status_code == 202
    task = _wait(client, image["id"])
    assert task["status"] == "failure", task
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:1/x", "file:///etc/passwd", "rbd://fsid/images/x/snap", "",
])
def test_foreign_urls_are_400(client: TestClient, create_image: CreateImage, url: str) -> None:
    image = create_image()
    _place(client, image["id"], b"data")
    json_error(client.post(f"/v2/images/{image['id']}/locations", json={"url": url}), 400)
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_another_images_data_is_400(client: TestClient, create_image: CreateImage) -> None:
    mine, other = create_image(), create_image()
    other_url = _place(client, other["id"], b"theirs")
    json_error(client.post(f"/v2/images/{mine['id']}/locations", json={"url": other_url}), 400)


def test_bad_requests(client: TestClient, create_image: CreateImage) -> None:
    image = create_image()
    url = _store(client).location(image["id"])
    json_error(client.post(f"/v2/images/{image['id']}/locations", json={"url": url}), 400)
    _place(client, image["id"], b"data")
    for body in ({}, {"url": 5}, {"url": url, "extra": 1},
                 {"url": url, "validation_data": {"os_hash_algo": "md5"}},
                 {"url": url, "validation_data": {"os_hash_value": "zz"}},
                 {"url": url, "validation_data": []}):
        json_error(client.post(f"/v2/images/{image['id']}/locations", json=body), 400)
    json_error(client.post("/v2/images/5b1c8c0e-0000-4000-8000-000000000000/locations",
                           json={"url": url}), 404)
    no_formats = client.post("/v2/images", json={}).json()
    json_error(client.post(f"/v2/images/{no_formats['id']}/locations",
                           json={"url": _place(client, no_formats["id"], b"d")}), 400)


def test_deleting_the_image_cancels_the_check(client: TestClient,
                                              create_image: CreateImage) -> None:
    image = create_image()
    store = _store(client)
    path = Path(store.local_path(image["id"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(1 << 30)  # sparse: many blocks to read
    resp = client.post(f"/v2/images/{image['id']}/locations",
                       json={"url": store.location(image["id"])})
    assert resp.status_code == 202, resp.text
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    svc = client.app.state.services  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while True:
        task = svc.deps.repo.tasks_for_image(image["id"])[-1]
        if task.status in TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert task.status == "failure", task
    json_error(client.get(f"/v2/images/{image['id']}"), 404)
    assert not path.exists()
