"""The Block Storage API over real records: every handler that reaches the volume service,
in process against SQLite and the file backend (real qemu-img), checked field by field as
Cinder shapes them — views per microversion, links and pagination, 404s for unknown ids and
markers, and Cinder's 400s for operations the status forbids."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.helpers import TestClient

P = "/volume/v3/5b7e4ad0bd3f4a2e9d1d8f00a8c6d1e2"
BASE = "http://testserver" + P
LATEST = {"OpenStack-API-Version": "volume 3.71"}
UNKNOWN = str(uuid.uuid4())
Make = Callable[..., dict[str, Any]]


def _fault(resp: Any, status: int, key: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == [key], body
    message: str = body[key]["message"]
    return message


def _wait(client: TestClient, kind: str, object_id: str, status: str = "available",
          timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(f"{P}/{kind}s/{object_id}", headers=LATEST)
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()[kind]
        if found["status"] == status:
            return found
        assert "error" not in found["status"] or "error" in status, found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def _gone(client: TestClient, kind: str, object_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while client.get(f"{P}/{kind}s/{object_id}").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture
def volume(client: TestClient) -> Make:
    """``volume(**spec)``: POST a volume (size 1 unless given), wait until available."""
    def make(**spec: Any) -> dict[str, Any]:
        spec.setdefault("size", 1)
        resp = client.post(P + "/volumes", json={"volume": spec})
        assert resp.status_code == 202, resp.text
        return _wait(client, "volume", resp.json()["volume"]["id"])
    return make


@pytest.fixture
def snapshot(client: TestClient) -> Make:
    def make(volume_id: str, **spec: Any) -> dict[str, Any]:
        resp = client.post(P + "/snapshots", json={"snapshot": {"volume_id": volume_id, **spec}})
        assert resp.status_code == 202, resp.text
        return _wait(client, "snapshot", resp.json()["snapshot"]["id"])
    return make


def test_create_answers_the_short_view_and_show_the_extended_one(client: TestClient) -> None:
    resp = client.post(P + "/volumes", json={"volume": {
        "size": 1, "name": "v", "description": "d", "metadata": {"k": "v"}}})
    assert resp.status_code == 202
    made = resp.json()["volume"]
    assert made["status"] == "creating" and made["size"] == 1
    assert not any(k.startswith("os-vol-") for k in made)
    shown = _wait(client, "volume", made["id"])
    for key in ("bootable", "encrypted", "multiattach"):
        assert key in shown
    assert shown["bootable"] == "false" and shown["encrypted"] is False
    assert shown["multiattach"] is False and shown["metadata"] == {"k": "v"}
    assert shown["os-vol-host-attr:host"] == "cowshed@file#file"
    assert shown["os-vol-tenant-attr:tenant_id"]
    assert shown["volume_type"] == "file" and shown["attachments"] == []
    assert shown["links"] == [
        {"rel": "self", "href": f"{BASE}/volumes/{made['id']}"},
        {"rel": "bookmark",
         "href": f"http://testserver/volume/5b7e4ad0bd3f4a2e9d1d8f00a8c6d1e2/volumes/{made['id']}"}]
    types = client.get(P + "/types").json()["volume_types"]
    assert shown["volume_type_id"] == types[0]["id"] and shown["group_id"] is None
    old = client.get(f"{P}/volumes/{made['id']}").json()["volume"]
    assert "volume_type_id" not in old and "group_id" not in old
    assert "consumes_quota" not in old and shown["consumes_quota"] is True


def test_list_pages_follow_next_links_with_the_public_prefix(client: TestClient,
                                                              volume: Make) -> None:
    made = [volume(name=f"v{i}") for i in range(3)]
    page = client.get(P + "/volumes", params={"limit": 2, "sort": "name:asc"}).json()
    assert [v["name"] for v in page["volumes"]] == ["v0", "v1"]
    assert set(page["volumes"][0]) == {"id", "name", "links"}
    (link,) = page["volumes_links"]
    assert link["rel"] == "next"
    assert link["href"] == (f"{BASE}/volumes?limit=2&sort=name%3Aasc&marker={made[1]['id']}")
    rest = client.get(link["href"].removeprefix("http://testserver")).json()
    assert [v["name"] for v in rest["volumes"]] == ["v2"] and "volumes_links" not in rest
    detail = client.get(P + "/volumes/detail", params={"sort_key": "name", "sort_dir": "desc",
                                                       "limit": 1}).json()
    assert detail["volumes"][0]["name"] == "v2" and "status" in detail["volumes"][0]
    assert detail["volumes_links"][0]["href"].startswith(f"{BASE}/volumes/detail?")
    counted = client.get(P + "/volumes", params={"with_count": "true", "limit": 1},
                         headers={"OpenStack-API-Version": "volume 3.45"}).json()
    assert counted["count"] == 3 and len(counted["volumes"]) == 1
    _fault(client.get(P + "/volumes", params={"marker": UNKNOWN}), 404, "itemNotFound")
    _fault(client.get(P + "/volumes", params={"sort": "colour:asc"}), 400, "badRequest")


def test_list_filters(client: TestClient, volume: Make, snapshot: Make) -> None:
    a = volume(name="alpha", metadata={"tier": "gold"})
    volume(name="beta", size=2)
    names = lambda **q: sorted(v["name"] for v in client.get(  # noqa: E731
        P + "/volumes/detail", params=q, headers=LATEST).json()["volumes"])
    assert names(name="alpha") == ["alpha"]
    assert names(size="2") == ["beta"]
    _fault(client.get(P + "/volumes/detail", params={"size": "big"}, headers=LATEST),
           400, "badRequest")
    assert names(status="available") == ["alpha", "beta"]
    assert names(metadata="{'tier': 'gold'}") == ["alpha"]
    assert names(bootable="false") == ["alpha", "beta"] and names(bootable="true") == []
    assert names(**{"name~": "alp"}) == ["alpha"]
    summary = client.get(P + "/volumes/summary", headers=LATEST).json()["volume-summary"]
    assert summary == {"total_size": 3, "total_count": 2, "metadata": {"tier": ["gold"]}}
    _fault(client.get(P + "/volumes/summary"), 404, "itemNotFound")  # before 3.12
    snapshot(a["id"], name="s2")
    snapshot(a["id"], name="s1")
    snaps = client.get(P + "/snapshots", params={"sort_key": "display_name",
                                                 "sort_dir": "asc"}).json()["snapshots"]
    assert [s["name"] for s in snaps] == ["s1", "s2"]
    assert client.get(P + "/snapshots", params={"offset": 1}).json()["snapshots"][0]["name"] \
        == "s2"
    page = client.get(P + "/snapshots", params={"limit": 1}).json()
    assert page["snapshots_links"][0]["href"].startswith(f"{BASE}/snapshots?limit=1&marker=")
    _fault(client.get(P + "/snapshots", params={"marker": UNKNOWN}), 404, "itemNotFound")


def test_update_and_metadata(client: TestClient, volume: Make) -> None:
    vid = volume(name="old", metadata={"a": "1"})["id"]
    resp = client.put(f"{P}/volumes/{vid}", json={"volume": {"name": "new",
                                                             "description": "desc"}})
    assert resp.status_code == 200
    assert (resp.json()["volume"]["name"], resp.json()["volume"]["description"]) == (
        "new", "desc")
    meta = f"{P}/volumes/{vid}/metadata"
    assert client.post(meta, json={"metadata": {"b": "2"}}).json() == {
        "metadata": {"a": "1", "b": "2"}}
    assert client.put(f"{meta}/a", json={"meta": {"a": "9"}}).json() == {"meta": {"a": "9"}}
    assert client.get(f"{meta}/a").json() == {"meta": {"a": "9"}}
    assert client.put(meta, json={"metadata": {"c": "3"}}).json() == {"metadata": {"c": "3"}}
    assert client.delete(f"{meta}/c").status_code == 200
    assert client.get(meta).json() == {"metadata": {}}
    _fault(client.get(f"{meta}/c"), 404, "itemNotFound")
    _fault(client.delete(f"{meta}/c"), 404, "itemNotFound")


@pytest.mark.parametrize(("method", "path", "doc"), [
    ("GET", "/volumes/{u}", None),
    ("PUT", "/volumes/{u}", {"volume": {"name": "x"}}),
    ("DELETE", "/volumes/{u}", None),
    ("POST", "/volumes/{u}/action", {"os-extend": {"new_size": 2}}),
    ("POST", "/volumes/{u}/action", {"os-reserve": None}),
    ("GET", "/volumes/{u}/metadata", None),
    ("GET", "/volumes/{u}/lineage", None),
    ("GET", "/snapshots/{u}", None),
    ("PUT", "/snapshots/{u}", {"snapshot": {"name": "x"}}),
    ("DELETE", "/snapshots/{u}", None),
    ("POST", "/snapshots", {"snapshot": {"volume_id": "{u}"}}),
    ("POST", "/snapshots", {"snapshot": {"volume_id": None}}),
    ("POST", "/volumes", {"volume": {"size": 1, "snapshot_id": "{u}"}}),
    ("POST", "/volumes", {"volume": {"size": 1, "source_volid": "{u}"}}),
    ("POST", "/volumes", {"volume": {"size": 1, "imageRef": "{u}"}}),
    ("POST", "/volumes", {"volume": {"size": 1, "volume_type": "{u}"}}),
    ("GET", "/volumes/", None),
    ("DELETE", "/volumes/", None),
    ("PUT", "/volumes/", {"volume": {"name": "x"}}),
])
def test_unknown_ids_are_item_not_found(client: TestClient, method: str, path: str,
                                        doc: Any) -> None:
    import json
    text = json.dumps(doc).replace("{u}", UNKNOWN) if doc is not None else None
    resp = client.request(method, P + path.replace("{u}", UNKNOWN), content=text,
                          headers={"Content-Type": "application/json", **LATEST})
    _fault(resp, 404, "itemNotFound")


def test_state_errors_are_cinders_400(client: TestClient, volume: Make,
                                      snapshot: Make) -> None:
    vid = volume()["id"]
    snap = snapshot(vid)
    assert "snapshot" in _fault(client.delete(f"{P}/volumes/{vid}"), 400, "badRequest")
    act = f"{P}/volumes/{vid}/action"
    _fault(client.post(act, json={"os-extend": {"new_size": 1}}), 400, "badRequest")
    # in error: no snapshot, and no delete of its snapshot's volume either
    assert client.post(act, json={"os-reset_status": {"status": "error"}}).status_code == 202
    _fault(client.post(P + "/snapshots", json={"snapshot": {"volume_id": vid}}), 400,
           "badRequest")
    assert client.post(act, json={"os-reset_status": {"status": "available"}}).status_code \
        == 202
    # in use: no delete
    other = volume()["id"]
    other_act = f"{P}/volumes/{other}/action"
    assert client.post(other_act, json={"os-attach": {
        "instance_uuid": str(uuid.uuid4()), "mountpoint": "/dev/vdb"}}).status_code == 202
    assert client.get(f"{P}/volumes/{other}").json()["volume"]["status"] == "in-use"
    _fault(client.delete(f"{P}/volumes/{other}"), 400, "badRequest")
    _fault(client.post(P + "/snapshots", json={"snapshot": {"volume_id": other}}), 400,
           "badRequest")
    assert client.post(other_act, json={"os-detach": {}}).status_code == 202
    assert client.delete(f"{P}/volumes/{other}").status_code == 202
    assert client.delete(f"{P}/volumes/{vid}", params={"cascade": "true"}).status_code == 202
    _gone(client, "volume", vid)
    _gone(client, "snapshot", snap["id"])


def test_extend_revert_retype_and_snapshot_status(client: TestClient, volume: Make,
                                                  snapshot: Make) -> None:
    vid = volume()["id"]
    snap = snapshot(vid, name="s")
    act = f"{P}/volumes/{vid}/action"
    resp = client.post(act, json={"revert": {"snapshot_id": snap["id"]}}, headers=LATEST)
    assert resp.status_code == 202, resp.text
    _wait(client, "volume", vid)
    assert client.post(act, json={"os-extend": {"new_size": 2}}).status_code == 202
    assert _wait(client, "volume", vid)["size"] == 2
    _fault(client.post(act, json={"revert": {"snapshot_id": snap["id"]}}, headers=LATEST),
           400, "badRequest")  # the snapshot is smaller than the volume now

    gold = client.post(P + "/types", json={"volume_type": {"name": "gold"}}).json()
    assert client.post(act, json={"os-retype": {"new_type": gold["volume_type"]["id"]}}
                       ).status_code == 202
    shown = client.get(f"{P}/volumes/{vid}", headers=LATEST).json()["volume"]
    assert shown["volume_type"] == "gold"
    assert shown["volume_type_id"] == gold["volume_type"]["id"]
    _fault(client.post(act, json={"os-retype": {"new_type": "gold"}}), 400, "badRequest")
    _fault(client.post(act, json={"os-retype": {"new_type": UNKNOWN}}), 404, "itemNotFound")
    _fault(client.post(act, json={"os-retype": {}}), 400, "badRequest")
    _fault(client.delete(f"{P}/types/{gold['volume_type']['id']}"), 400, "badRequest")

    sact = f"{P}/snapshots/{snap['id']}/action"
    assert client.post(sact, json={"os-reset_status": {"status": "creating"}}).status_code \
        == 202
    resp = client.post(sact, json={"os-update_snapshot_status": {"status": "error",
                                                                 "progress": "80%"}})
    assert resp.status_code == 202, resp.text
    shown = client.get(f"{P}/snapshots/{snap['id']}").json()["snapshot"]
    assert shown["status"] == "error"
    assert shown["os-extended-snapshot-attributes:progress"] == "80%"
    _fault(client.post(sact, json={"os-update_snapshot_status": {"status": "available"}}),
           400, "badRequest")  # error is not creating
    _fault(client.post(sact, json={"os-update_snapshot_status": {"status": "bogus"}}),
           400, "badRequest")


def test_attachments_api(client: TestClient, volume: Make) -> None:
    vid = volume()["id"]
    v327 = {"OpenStack-API-Version": "volume 3.27"}
    server = str(uuid.uuid4())
    _fault(client.post(P + "/attachments", json={"attachment": {"volume_uuid": vid}}), 404,
           "itemNotFound")  # before 3.27
    resp = client.post(P + "/attachments", headers=LATEST, json={"attachment": {
        "volume_uuid": vid, "instance_uuid": server,
        "connector": {"host": "h", "initiator": "i"}, "mode": "ro"}})
    assert resp.status_code == 200, resp.text
    att = resp.json()["attachment"]
    info = att["connection_info"]
    assert info["driver_volume_type"] == "file" and info["attachment_id"] == att["id"]
    assert "data" not in info and att["attach_mode"] == "ro" and att["instance"] == server
    listed = client.get(P + "/attachments", headers=v327).json()["attachments"]
    assert [a["id"] for a in listed] == [att["id"]]
    assert client.get(f"{P}/attachments/{att['id']}", headers=v327).json()[
        "attachment"]["volume_id"] == vid
    assert client.post(f"{P}/attachments/{att['id']}/action", headers=LATEST,
                       json={"os-complete": None}).status_code == 204
    assert client.get(f"{P}/volumes/{vid}").json()["volume"]["status"] == "in-use"
    resp = client.delete(f"{P}/attachments/{att['id']}", headers=v327)
    assert resp.status_code == 200 and resp.json() == {"attachments": []}
    assert client.get(f"{P}/volumes/{vid}").json()["volume"]["status"] == "available"
    _fault(client.get(f"{P}/attachments/{att['id']}", headers=v327), 404, "itemNotFound")


def test_clone_snapshot_lineage_and_deletes(client: TestClient, volume: Make,
                                            snapshot: Make) -> None:
    parent = volume(name="parent")
    snap = snapshot(parent["id"], name="snap")
    child = volume(snapshot_id=snap["id"], name="child", size=None)
    clone = volume(source_volid=parent["id"], name="clone", size=None)
    assert (child["snapshot_id"], clone["source_volid"]) == (snap["id"], parent["id"])
    tree = client.get(f"{P}/volumes/{clone['id']}/lineage").json()["lineage"]

    def ids(node: dict[str, Any]) -> set[str]:
        return {node["id"]} | {i for c in node["children"] for i in ids(c)}
    assert {parent["id"], snap["id"], child["id"], clone["id"]} <= ids(tree)
    # parents go first: hidden while their children live, never breaking them
    assert client.delete(f"{P}/snapshots/{snap['id']}").status_code == 202
    _gone(client, "snapshot", snap["id"])
    assert client.delete(f"{P}/volumes/{parent['id']}").status_code == 202
    _gone(client, "volume", parent["id"])
    assert _wait(client, "volume", child["id"])["status"] == "available"
    for vid in (child["id"], clone["id"]):
        assert client.delete(f"{P}/volumes/{vid}").status_code == 202
        _gone(client, "volume", vid)
    assert client.get(P + "/volumes").json() == {"volumes": []}


def test_volume_transfers(client: TestClient, volume: Make, snapshot: Make) -> None:
    vid = volume(name="gift")["id"]
    snap = snapshot(vid)
    for base, headers in (("/os-volume-transfer", {}),
                          ("/volume-transfers", {"OpenStack-API-Version": "volume 3.57"})):
        resp = client.post(P + base, headers=headers,
                           json={"transfer": {"volume_id": vid, "name": "t"}})
        assert resp.status_code == 202, resp.text
        made = resp.json()["transfer"]
        assert len(made["auth_key"]) == 16 and made["volume_id"] == vid
        assert made["links"][0]["href"] == f"{BASE}{base}/{made['id']}"
        assert _wait(client, "volume", vid, "awaiting-transfer")
        _fault(client.post(P + base, headers=headers, json={"transfer": {"volume_id": vid}}),
               400, "badRequest")  # already offered
        _fault(client.delete(f"{P}/volumes/{vid}"), 400, "badRequest")
        shown = client.get(f"{P}{base}/{made['id']}", headers=headers).json()["transfer"]
        assert "auth_key" not in shown and shown["volume_id"] == vid
        listed = client.get(P + base, headers=headers).json()["transfers"]
        assert [set(t) for t in listed] == [{"id", "name", "volume_id", "links"}]
        detail = client.get(f"{P}{base}/detail", headers=headers).json()["transfers"]
        assert detail[0]["id"] == made["id"]
        _fault(client.post(f"{P}{base}/{made['id']}/accept", headers=headers,
                           json={"accept": {"auth_key": "0" * 16}}), 400, "badRequest")
        assert client.delete(f"{P}{base}/{made['id']}", headers=headers).status_code == 202
        assert _wait(client, "volume", vid)["status"] == "available"
    v357 = client.get(P + "/volume-transfers", headers=LATEST).json()
    assert v357 == {"transfers": []}
    _fault(client.get(P + "/volume-transfers"), 404, "itemNotFound")  # before 3.55
    _fault(client.get(f"{P}/os-volume-transfer/{UNKNOWN}"), 404, "itemNotFound")
    _fault(client.post(f"{P}/os-volume-transfer/{UNKNOWN}/accept",
                       json={"accept": {"auth_key": "k"}}), 404, "itemNotFound")
    _fault(client.post(P + "/os-volume-transfer", json={"transfer": {}}), 400, "badRequest")
    _fault(client.post(P + "/os-volume-transfer", json={"transfer": {"volume_id": UNKNOWN}}),
           404, "itemNotFound")

    # another project takes it, snapshots and quota usage included
    from cowshed.domain.volumes import Caller
    from cowshed.errors import StorageFull

    svc = client.app.state.services.volumes  # type: ignore[attr-defined]
    owner = Caller(client.get(f"{P}/volumes/{vid}").json()["volume"][
        "os-vol-tenant-attr:tenant_id"], is_admin=False)
    taker = Caller("taker-project", user_id="taker")
    offer = svc.transfer_create(owner, vid)
    svc.admin.update_quotas(Caller("a", is_admin=True), "taker-project", {"volumes": 0})
    with pytest.raises(StorageFull):
        svc.transfer_accept(taker, offer.transfer.id, offer.auth_key)
    svc.admin.delete_quotas(Caller("a", is_admin=True), "taker-project")
    svc.transfer_accept(taker, offer.transfer.id, offer.auth_key)
    moved = svc.get(taker, vid)
    assert (moved.project_id, moved.user_id, moved.status) == (
        "taker-project", "taker", "available")
    assert svc.snapshot_get(taker, snap["id"]).project_id == "taker-project"
    assert svc.quotas(taker, "taker-project", usage=True).in_use["volumes"] == 1
    assert svc.quotas(owner, owner.project_id, usage=True).in_use["volumes"] == 0
