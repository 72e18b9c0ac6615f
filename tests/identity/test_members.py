"""Image members over HTTP with real tokens: Glance's codes for sharing."""

from __future__ import annotations

from typing import Any

from tests.identity.conftest import Cloud

OCTET = {"Content-Type": "application/octet-stream"}


def image(cloud: Cloud, who: str = "alice", **body: Any) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **body}
    resp = cloud.client.post("/v2/images", json=body, headers=cloud.as_(who))
    assert resp.status_code == 201, resp.text
    image_id: str = resp.json()["id"]
    put = cloud.client.put(f"/v2/images/{image_id}/file", content=b"shared bytes",
                           headers={**cloud.as_(who), **OCTET})
    assert put.status_code == 204
    return image_id


def listed(cloud: Cloud, who: str, query: str = "") -> set[str]:
    resp = cloud.client.get(f"/v2/images?{query}", headers=cloud.as_(who))
    assert resp.status_code == 200, resp.text
    return {i["id"] for i in resp.json()["images"]}


def test_share_accept_reject_and_unshare(cloud: Cloud) -> None:
    c, beta = cloud.client, cloud.projects["beta"]
    image_id = image(cloud)
    base = f"/v2/images/{image_id}/members"
    assert c.get(f"/v2/images/{image_id}", headers=cloud.as_("bob")).status_code == 404
    added = c.post(base, json={"member": beta}, headers=cloud.as_("alice"))
    assert added.status_code == 200, added.text
    assert added.json()["status"] == "pending" and added.json()["member_id"] == beta
    assert set(added.json()) == {"image_id", "member_id", "status", "created_at",
                                 "updated_at", "schema"}
    assert c.post(base, json={"member": beta}, headers=cloud.as_("alice")).status_code == 409
    # pending: readable by id, not listed unless asked for
    assert c.get(f"/v2/images/{image_id}", headers=cloud.as_("bob")).status_code == 200
    assert image_id not in listed(cloud, "bob")
    assert image_id in listed(cloud, "bob", "visibility=shared&member_status=pending")
    assert image_id in listed(cloud, "bob", "member_status=all")
    # only the member changes its status
    mine = f"{base}/{beta}"
    assert c.put(mine, json={"status": "accepted"}, headers=cloud.as_("alice")).status_code == 403
    assert c.put(mine, json={"status": "maybe"}, headers=cloud.as_("bob")).status_code == 400
    assert c.put(mine, json={"status": "accepted"}, headers=cloud.as_("bob")).json()["status"] \
        == "accepted"
    assert image_id in listed(cloud, "bob")
    assert image_id in listed(cloud, "bob", "visibility=shared")
    download = c.get(f"/v2/images/{image_id}/file", headers=cloud.as_("bob"))
    assert download.status_code == 200 and download.content == b"shared bytes"
    # a member may not change the image nor remove itself
    assert c.patch(f"/v2/images/{image_id}", json=[{"op": "replace", "path": "/name",
                   "value": "x"}], headers={**cloud.as_("bob"), "Content-Type":
                   "application/openstack-images-v2.1-json-patch"}).status_code == 403
    assert c.delete(mine, headers=cloud.as_("bob")).status_code == 403
    assert c.delete(f"/v2/images/{image_id}", headers=cloud.as_("bob")).status_code == 403
    # the member sees its own record only; the owner sees all
    assert [m["member_id"] for m in c.get(base, headers=cloud.as_("bob")).json()["members"]] \
        == [beta]
    assert c.get(mine, headers=cloud.as_("bob")).status_code == 200
    assert c.get(base, headers=cloud.as_("rita")).status_code == 200
    assert c.post(base, json={"member": "x"}, headers=cloud.as_("rita")).status_code == 403
    assert c.put(mine, json={"status": "rejected"}, headers=cloud.as_("bob")).status_code == 200
    assert image_id not in listed(cloud, "bob")
    assert c.delete(mine, headers=cloud.as_("alice")).status_code == 204
    assert c.delete(mine, headers=cloud.as_("alice")).status_code == 404
    assert c.get(f"/v2/images/{image_id}", headers=cloud.as_("bob")).status_code == 404


def test_only_shared_images_have_members(cloud: Cloud) -> None:
    c = cloud.client
    private = image(cloud, visibility="private")
    base = f"/v2/images/{private}/members"
    assert c.get(base, headers=cloud.as_("alice")).status_code == 403
    assert c.post(base, json={"member": "p"}, headers=cloud.as_("alice")).status_code == 403
    public = image(cloud, "admin", visibility="public")
    resp = c.post(f"/v2/images/{public}/members", json={"member": "p"}, headers=cloud.as_("admin"))
    assert resp.status_code == 403 and "Public" in resp.text
    # a foreign private image: 404, as a missing one
    assert c.get(base, headers=cloud.as_("bob")).status_code == 404
    assert c.post(base, json={"member": cloud.projects["beta"]},
                  headers=cloud.as_("bob")).status_code == 404


def test_bad_member_bodies_and_unknown_members(cloud: Cloud) -> None:
    c = cloud.client
    base = f"/v2/images/{image(cloud)}/members"
    for body in ({}, {"member": 7}, {"member": ""}, {"member": "x" * 256}, ["member"]):
        assert c.post(base, json=body, headers=cloud.as_("alice")).status_code == 400, body
    assert c.get(f"{base}/nobody", headers=cloud.as_("alice")).status_code == 404
    assert c.put(f"{base}/nobody", json={"status": "accepted"},
                 headers=cloud.as_("alice")).status_code == 404
    assert c.delete(f"{base}/nobody", headers=cloud.as_("alice")).status_code == 404
    # Glance does not check that the member project exists
    assert c.post(base, json={"member": "no-such-project"},
                  headers=cloud.as_("alice")).status_code == 200


def test_member_quota(cloud: Cloud) -> None:
    c = cloud.client
    base = f"/v2/images/{image(cloud)}/members"
    quota = c.app.state.services.settings.image_member_quota  # type: ignore[attr-defined]
    for i in range(quota):
        assert c.post(base, json={"member": f"p{i}"}, headers=cloud.as_("alice")).status_code == 200
    assert c.post(base, json={"member": "one-more"}, headers=cloud.as_("alice")).status_code == 413
