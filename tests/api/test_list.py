"""GET /v2/images: filters, sorting, pagination and their 400s (§1.3)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api.conftest import CreateImage, Upload
from tests.api.helpers import TestClient, json_error


def ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [image["id"] for image in resp.json()["images"]]


def names(client: TestClient, query: str) -> list[str]:
    resp = client.get("/v2/images?" + query)
    assert resp.status_code == 200, resp.text
    return [image["name"] for image in resp.json()["images"]]


def walk(client: TestClient, first: str) -> tuple[list[dict[str, Any]], int]:
    """Follow ``next`` links from ``first``; return every image and the number of pages."""
    url: str | None = first
    seen: list[dict[str, Any]] = []
    pages = 0
    while url is not None:
        resp = client.get(url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["schema"] == "/v2/schemas/images"
        seen.extend(body["images"])
        url = body.get("next")
        pages += 1
        assert pages < 200, "pagination does not terminate"
    return seen, pages


def test_empty_list_shape(client: TestClient) -> None:
    resp = client.get("/v2/images")
    assert resp.status_code == 200
    assert resp.json() == {"images": [], "first": "/v2/images", "schema": "/v2/schemas/images"}


def test_list_default_order_is_created_at_desc(client: TestClient,
                                               create_image: CreateImage) -> None:
    made = []
    for i in range(3):
        made.append(create_image(name=f"i{i}")["id"])
        time.sleep(0.002)
    assert ids(client.get("/v2/images")) == made[::-1]


def test_list_record_matches_show(client: TestClient, create_image: CreateImage) -> None:
    image = create_image(name="x", hw_qemu_guest_agent="yes")
    listed = client.get("/v2/images").json()["images"]
    assert listed == [client.get(f"/v2/images/{image['id']}").json()]


@pytest.fixture
def catalog(client: TestClient, create_image: CreateImage, upload: Upload) -> dict[str, str]:
    """Five images with distinct attributes; returns name → id."""
    out = {}
    specs: list[dict[str, Any]] = [
        {"name": "alpha", "visibility": "public", "tags": ["t1", "t2"], "hw_disk_bus": "virtio",
         "protected": True},
        {"name": "beta", "visibility": "private", "tags": ["t1"], "hw_disk_bus": "scsi"},
        {"name": "gamma", "visibility": "shared", "tags": ["t2"], "disk_format": "qcow2"},
        {"name": "delta", "visibility": "community", "tags": [], "os_distro": "ubuntu"},
        {"name": "hidden", "os_hidden": True},
    ]
    for spec in specs:
        out[spec["name"]] = create_image(**spec)["id"]
        time.sleep(0.002)
    assert upload(out["alpha"], b"a" * 10).status_code == 204
    assert upload(out["beta"], b"b" * 100).status_code == 204
    return out


def test_hidden_images_excluded_by_default(client: TestClient, catalog: dict[str, str]) -> None:
    assert "hidden" not in names(client, "")
    assert names(client, "os_hidden=true") == ["hidden"]
    assert "hidden" not in names(client, "os_hidden=false")
    json_error(client.get("/v2/images?os_hidden=maybe"), 400)


@pytest.mark.parametrize(("query", "expected"), [
    ("name=beta", {"beta"}),
    ("name=nope", set()),
    ("name=in:alpha,gamma", {"alpha", "gamma"}),
    ("status=active", {"alpha", "beta"}),
    ("status=queued", {"gamma", "delta"}),
    ("status=in:active,queued", {"alpha", "beta", "gamma", "delta"}),
    ("visibility=public", {"alpha"}),
    ("visibility=private", {"beta"}),
    ("visibility=community", {"delta"}),
    ("visibility=all", {"alpha", "beta", "gamma", "delta"}),
    ("tag=t1", {"alpha", "beta"}),
    ("tag=t1&tag=t2", {"alpha"}),
    ("tag=nope", set()),
    ("protected=true", {"alpha"}),
    ("protected=false", {"beta", "gamma", "delta"}),
    ("size_min=50", {"beta"}),
    ("size_max=50", {"alpha"}),
    ("size_min=10&size_max=10", {"alpha"}),
    ("hw_disk_bus=virtio", {"alpha"}),
    ("os_distro=ubuntu", {"delta"}),
    ("hw_disk_bus=virtio&name=beta", set()),
    ("disk_format=qcow2", {"gamma"}),
    ("disk_format=in:qcow2,raw", {"alpha", "beta", "gamma", "delta"}),
    ("container_format=bare", {"alpha", "beta", "gamma", "delta"}),
])
def test_filters(client: TestClient, catalog: dict[str, str], query: str,
                 expected: set[str]) -> None:
    assert set(names(client, query)) == expected


def test_checksum_and_id_filters(client: TestClient, catalog: dict[str, str]) -> None:
    alpha = client.get(f"/v2/images/{catalog['alpha']}").json()
    assert names(client, f"checksum={alpha['checksum']}") == ["alpha"]
    assert names(client, f"os_hash_value={alpha['os_hash_value']}") == ["alpha"]
    assert names(client, f"id={catalog['gamma']}") == ["gamma"]
    assert set(names(client, f"id=in:{catalog['gamma']},{catalog['beta']}")) == {"gamma", "beta"}


def test_created_at_filters(client: TestClient, create_image: CreateImage) -> None:
    old = create_image(name="old")
    time.sleep(1.1)  # timestamps are shown to the second
    new = create_image(name="new")
    stamp = new["created_at"]
    assert names(client, f"created_at=gte:{stamp}") == ["new"]
    assert names(client, f"created_at=lt:{stamp}") == ["old"]
    assert set(names(client, "created_at=gt:2000-01-01T00:00:00Z")) == {"old", "new"}
    assert names(client, "created_at=gt:2999-01-01T00:00:00Z") == []
    assert set(names(client, f"updated_at=lte:{stamp[:-1]}%2B00:00")) <= {"old", "new"}
    assert old["created_at"] <= stamp


@pytest.mark.parametrize("query", [
    "created_at=gt:yesterday", "created_at=gt:", "updated_at=lt:2024-13-01T00:00:00Z",
    "status=bogus", "status=in:active,bogus", "disk_format=floppy", "visibility=everyone",
    "protected=yes", "size_min=abc", "size_max=-1", "size_min=1.5", "member_status=maybe",
    "limit=abc", "limit=-1", "limit=1.5", "limit=", "sort_key=bogus", "sort_dir=up",
    "sort=name:up", "sort=bogus", "sort=name&sort_key=name", "sort=name&sort_dir=asc",
    "sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc",
    "changes-since=2024-01-01T00:00:00Z",
    # valid attributes, but not among Glance's sort keys
    "sort_key=visibility", "sort=owner:asc", "sort=min_ram", "sort_key=virtual_size",
])
def test_bad_queries_are_400(client: TestClient, catalog: dict[str, str], query: str) -> None:
    json_error(client.get("/v2/images?" + query), 400)


def test_unknown_marker_is_400(client: TestClient, catalog: dict[str, str]) -> None:
    json_error(client.get(f"/v2/images?marker={uuid.uuid4()}"), 400)
    json_error(client.get("/v2/images?marker=garbage"), 400)


def test_sort_syntaxes(client: TestClient, catalog: dict[str, str]) -> None:
    everything = ["alpha", "beta", "delta", "gamma"]
    assert names(client, "sort=name:asc") == everything
    assert names(client, "sort=name:desc") == everything[::-1]
    assert names(client, "sort=name") == everything[::-1]  # default direction: desc
    assert names(client, "sort_key=name&sort_dir=asc") == everything
    assert names(client, "sort_key=name") == everything[::-1]
    # size desc puts beta (100) before alpha (10) before the data-less images
    assert names(client, "sort=size:desc,name:asc")[:2] == ["beta", "alpha"]
    assert names(client, "sort_key=status&sort_key=name&sort_dir=asc&sort_dir=desc") == [
        "beta", "alpha", "gamma", "delta"]
    assert names(client, "sort=status:asc,name:desc") == ["beta", "alpha", "gamma", "delta"]


def test_first_and_next_links(client: TestClient, catalog: dict[str, str]) -> None:
    resp = client.get("/v2/images?limit=2&sort=name:asc&visibility=all")
    body = resp.json()
    assert [i["name"] for i in body["images"]] == ["alpha", "beta"]
    first = urlsplit(body["first"])
    assert first.path == "/v2/images"
    assert dict(parse_qsl(first.query)) == {"limit": "2", "sort": "name:asc", "visibility": "all"}
    nxt = urlsplit(body["next"])
    assert nxt.path == "/v2/images"
    assert dict(parse_qsl(nxt.query)) == {"limit": "2", "sort": "name:asc", "visibility": "all",
                                          "marker": catalog["beta"]}
    second = client.get(body["next"]).json()
    assert [i["name"] for i in second["images"]] == ["delta", "gamma"]
    # `first` never carries the marker
    assert "marker" not in second["first"]
    # a full last page still gets a `next` (Glance: next when the page was full)...
    assert "next" in second
    # ...which then yields an empty page without `next`
    third = client.get(second["next"]).json()
    assert third["images"] == []
    assert "next" not in third


def test_limit_capped_and_default(client: TestClient, create_image: CreateImage) -> None:
    for i in range(27):
        create_image(name=f"n{i:02d}")
    default = client.get("/v2/images").json()
    assert len(default["images"]) == 25  # limit_param_default
    assert "next" in default
    assert len(client.get("/v2/images?limit=100000").json()["images"]) == 27
    assert client.get("/v2/images?limit=0").json()["images"] == []
    assert "next" not in client.get("/v2/images?limit=0").json()


@pytest.mark.parametrize("sort", [
    "sort_key=name&sort_dir=asc", "sort_key=name&sort_dir=desc", "sort=status:asc",
    "sort=disk_format:desc,name:asc", "sort=size:asc", "sort=size:desc", "",
    "sort_key=created_at&sort_dir=asc", "sort=container_format:asc,id:desc",
])
def test_pagination_walks_everything_once_with_ties(
    client: TestClient, create_image: CreateImage, upload: Upload, sort: str,
) -> None:
    made = set()
    for i in range(23):
        # only three distinct names, two formats, a few sizes: lots of ties in every sort key
        image = create_image(name=f"same{i % 3}", disk_format=("raw", "qcow2")[i % 2])
        made.add(image["id"])
        if i % 4 == 0:
            assert upload(image["id"], b"x" * (i % 8)).status_code == 204
    # one image without a name at all, to sort NULL with the rest
    made.add(create_image(name=None)["id"])
    full = ids(client.get(f"/v2/images?limit=1000&{sort}"))
    assert set(full) == made
    for limit in (1, 2, 5, 7):
        seen, pages = walk(client, f"/v2/images?limit={limit}&{sort}")
        got = [image["id"] for image in seen]
        assert len(got) == len(set(got)), f"duplicates with limit={limit}"
        assert got == full, f"gaps or reordering with limit={limit}"
        assert pages >= len(made) // limit
