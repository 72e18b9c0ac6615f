"""Per-project image quotas: 413 at the limit, /v2/info/usage, per-project limits."""

from __future__ import annotations

from collections.abc import Iterator

from cowshed.domain.context import local_admin
from tests.identity.conftest import Cloud

OCTET = {"Content-Type": "application/octet-stream"}
KiB = 1024


def set_quota(cloud: Cloud, project: str, resource: str, limit: int | None) -> None:
    services = cloud.client.app.state.services  # type: ignore[attr-defined]
    services.images.quotas.set_limit(local_admin("x"), cloud.projects[project], resource, limit)


def new(cloud: Cloud, who: str) -> tuple[int, str]:
    resp = cloud.client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"},
                             headers=cloud.as_(who))
    return resp.status_code, resp.json().get("id", "") if resp.status_code == 201 else ""


def usage(cloud: Cloud, who: str) -> dict[str, dict[str, int]]:
    resp = cloud.client.get("/v2/info/usage", headers=cloud.as_(who))
    assert resp.status_code == 200
    found: dict[str, dict[str, int]] = resp.json()["usage"]
    return found


def test_image_count_quota(cloud: Cloud) -> None:
    set_quota(cloud, "beta", "image_count_total", 2)
    try:
        before = usage(cloud, "bob")["image_count_total"]["usage"]
        made = []
        while len(made) + before < 2:
            status, image_id = new(cloud, "bob")
            assert status == 201
            made.append(image_id)
        status, _ = new(cloud, "bob")
        assert status == 413
        assert usage(cloud, "bob")["image_count_total"] == {"limit": 2, "usage": 2}
        assert new(cloud, "alice")[0] == 201  # another project is not affected
        assert cloud.client.delete(f"/v2/images/{made[-1]}", headers=cloud.as_("bob")
                                   ).status_code == 204
        assert new(cloud, "bob")[0] == 201
    finally:
        set_quota(cloud, "beta", "image_count_total", None)


def test_image_size_quota_caps_uploads(cloud: Cloud) -> None:
    set_quota(cloud, "beta", "image_size_total", 1)  # MiB
    try:
        _, first = new(cloud, "bob")
        put = cloud.client.put(f"/v2/images/{first}/file", content=b"a" * (600 * KiB),
                               headers={**cloud.as_("bob"), **OCTET})
        assert put.status_code == 204
        _, second = new(cloud, "bob")
        promised = cloud.client.put(f"/v2/images/{second}/file", content=b"b" * (600 * KiB),
                                    headers={**cloud.as_("bob"), **OCTET})
        assert promised.status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(60):
                yield b"c" * (10 * KiB)

        streamed = cloud.client.put(f"/v2/images/{second}/file", content=chunks(),
                                    headers={**cloud.as_("bob"), **OCTET})
        assert streamed.status_code == 413
        shown = cloud.client.get(f"/v2/images/{second}", headers=cloud.as_("bob")).json()
        assert (shown["status"], shown["size"]) == ("queued", None)
        size = usage(cloud, "bob")["image_size_total"]
        assert size == {"limit": 1, "usage": 1}
        small = cloud.client.put(f"/v2/images/{second}/file", content=b"d" * (100 * KiB),
                                 headers={**cloud.as_("bob"), **OCTET})
        assert small.status_code == 204  # 700 KiB in all: still under 1 MiB
    finally:
        set_quota(cloud, "beta", "image_size_total", None)


def test_stage_quota_and_defaults(cloud: Cloud) -> None:
    set_quota(cloud, "alpha", "image_stage_total", 0)
    try:
        _, image_id = new(cloud, "alice")
        staged = cloud.client.put(f"/v2/images/{image_id}/stage", content=b"x" * KiB,
                                  headers={**cloud.as_("alice"), **OCTET})
        assert staged.status_code == 413
        assert cloud.client.get(f"/v2/images/{image_id}", headers=cloud.as_("alice")
                                ).json()["status"] == "queued"
    finally:
        set_quota(cloud, "alpha", "image_stage_total", None)
    limits = usage(cloud, "alice")
    assert set(limits) == {"image_count_total", "image_size_total", "image_stage_total",
                           "image_count_uploading"}
    assert all(v["limit"] == -1 for v in limits.values())
