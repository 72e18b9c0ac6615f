"""Admin routes of the Block Storage API: types-manage, extra specs, type access, os-services,
os-hosts, scheduler-stats/get_pools and capabilities, in process against real SQLite records.

Requests run as noauth's admin; what non-admins may see and do is checked on the service
objects with a non-admin caller (the API has no non-admin under noauth)."""

from __future__ import annotations

from typing import Any

import pytest

from cowshed.domain.volumes import Caller
from cowshed.errors import Forbidden, NotFound
from cowshed.services.app import open_services
from cowshed.services.volumes.types import type_id
from tests.api.helpers import TestClient

P = "/volume/v3/5b7e4ad0bd3f4a2e9d1d8f00a8c6d1e2"
T = P + "/types"
UUID = "0b3c7f4e-2a61-4c1e-9a57-3f0c2b1d9e88"


def _fault(resp: Any, status: int, key: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == [key], body
    message: str = body[key]["message"]
    return message


def _create(client: TestClient, **spec: Any) -> dict[str, Any]:
    spec.setdefault("name", "gold")
    resp = client.post(T, json={"volume_type": spec})
    assert resp.status_code == 200, resp.text
    vtype: dict[str, Any] = resp.json()["volume_type"]
    return vtype


def test_type_create_show_list_update_delete(client: TestClient) -> None:
    made = _create(client, name="gold", description="fast", extra_specs={"vendor_name": "x"},
                   **{"os-volume-type-access:is_public": True})
    assert set(made) == {"id", "name", "description", "is_public",
                         "os-volume-type-access:is_public", "extra_specs"}
    assert (made["name"], made["description"], made["is_public"]) == ("gold", "fast", True)
    shown = client.get(f"{T}/{made['id']}").json()["volume_type"]
    assert shown["extra_specs"] == {"vendor_name": "x"} and shown["qos_specs_id"] is None
    assert client.get(f"{T}/gold").json()["volume_type"]["id"] == made["id"]
    names = [t["name"] for t in client.get(T).json()["volume_types"]]
    assert names == ["file", "gold"]

    resp = client.put(f"{T}/{made['id']}", json={"volume_type": {
        "name": "platinum", "description": "faster", "is_public": False}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["volume_type"]
    assert "os-volume-type-access:is_public" not in updated
    assert (updated["name"], updated["description"], updated["is_public"]) == (
        "platinum", "faster", False)
    # admins list public types by default, every type with is_public=None
    assert [t["name"] for t in client.get(T).json()["volume_types"]] == ["file"]
    every = client.get(T, params={"is_public": "None"}).json()["volume_types"]
    assert [t["name"] for t in every] == ["file", "platinum"]
    private = client.get(T, params={"is_public": "false"}).json()["volume_types"]
    assert [t["name"] for t in private] == ["platinum"]

    assert client.delete(f"{T}/{made['id']}").status_code == 202
    _fault(client.get(f"{T}/{made['id']}"), 404, "itemNotFound")
    _fault(client.delete(f"{T}/{made['id']}"), 404, "itemNotFound")


def test_type_names_are_unique_configured_ones_included(client: TestClient) -> None:
    _create(client, name="gold")
    assert "already exists" in _fault(client.post(T, json={"volume_type": {"name": "gold"}}),
                                      409, "conflictingRequest")
    _fault(client.post(T, json={"volume_type": {"name": "file"}}), 409, "conflictingRequest")
    other = _create(client, name="silver")
    _fault(client.put(f"{T}/{other['id']}", json={"volume_type": {"name": "gold"}}),
           409, "conflictingRequest")


@pytest.mark.parametrize("spec", [
    {},                                          # name is required
    {"name": ""},
    {"name": "   "},
    {"name": 5},
    {"name": "x" * 256},
    {"name": "a", "colour": "red"},              # additionalProperties: false
    {"name": "a", "extra_specs": ["x"]},
    {"name": "a", "extra_specs": {"bad key": "v"}},
    {"name": "a", "extra_specs": {"k": 1}},
    {"name": "a", "extra_specs": {"k": "v" * 256}},
    {"name": "a", "os-volume-type-access:is_public": "maybe"},
    {"name": "a", "description": 3},
])
def test_type_create_bad_input(client: TestClient, spec: dict[str, Any]) -> None:
    _fault(client.post(T, json={"volume_type": spec}), 400, "badRequest")


@pytest.mark.parametrize("spec", [
    {}, {"name": ""}, {"extra_specs": {"a": "b"}}, {"is_public": "maybe"},
])
def test_type_update_bad_input(client: TestClient, spec: dict[str, Any]) -> None:
    made = _create(client)
    _fault(client.put(f"{T}/{made['id']}", json={"volume_type": spec}), 400, "badRequest")


def test_configured_types_cannot_be_changed(client: TestClient) -> None:
    file_id = type_id("file")
    for resp in (client.delete(f"{T}/{file_id}"),
                 client.put(f"{T}/{file_id}", json={"volume_type": {"description": "x"}}),
                 client.post(f"{T}/{file_id}/extra_specs", json={"extra_specs": {"a": "b"}}),
                 client.delete(f"{T}/{file_id}/extra_specs/volume_backend_name")):
        assert "configured" in _fault(resp, 400, "badRequest")
    shown = client.get(f"{T}/{file_id}").json()["volume_type"]
    assert shown["extra_specs"] == {"volume_backend_name": "file"}


def test_unknown_type_ids_are_404(client: TestClient) -> None:
    for resp in (client.get(f"{T}/{UUID}"), client.delete(f"{T}/{UUID}"),
                 client.put(f"{T}/{UUID}", json={"volume_type": {"name": "n"}}),
                 client.get(f"{T}/{UUID}/extra_specs"),
                 client.get(f"{T}/{UUID}/extra_specs/k"),
                 client.post(f"{T}/{UUID}/extra_specs", json={"extra_specs": {"a": "b"}}),
                 client.put(f"{T}/{UUID}/extra_specs/a", json={"a": "b"}),
                 client.delete(f"{T}/{UUID}/extra_specs/a"),
                 client.get(f"{T}/{UUID}/os-volume-type-access"),
                 client.post(f"{T}/{UUID}/action",
                             json={"addProjectAccess": {"project": "p"}})):
        _fault(resp, 404, "itemNotFound")


def test_extra_specs_create_update_show_delete(client: TestClient) -> None:
    base = f"{T}/{_create(client)['id']}/extra_specs"
    resp = client.post(base, json={"extra_specs": {"spec1": "a", "spec2": "b"}})
    assert resp.status_code == 200 and resp.json() == {"extra_specs": {"spec1": "a",
                                                                         "spec2": "b"}}
    resp = client.put(f"{base}/spec1", json={"spec1": "z"})
    assert resp.status_code == 200 and resp.json() == {"spec1": "z"}
    assert client.get(f"{base}/spec1").json() == {"spec1": "z"}
    assert client.post(base, json={"extra_specs": {"spec2": "c", "spec3": "d"}}).is_success
    assert client.get(base).json() == {"extra_specs": {"spec1": "z", "spec2": "c",
                                                       "spec3": "d"}}
    assert client.delete(f"{base}/spec1").status_code == 202
    _fault(client.get(f"{base}/spec1"), 404, "itemNotFound")
    _fault(client.delete(f"{base}/spec1"), 404, "itemNotFound")


@pytest.mark.parametrize(("path", "doc"), [
    ("spec1", None),                              # a null body
    ("spec1", {"spec1": None}),
    ("other", {"spec1": "v"}),                    # body and URI mismatch
    ("None", {"spec1": "v"}),
    ("spec1", {"spec1": "v", "spec2": "w"}),      # one key only
    ("spec1", {}),
    ("spec1", ["spec1"]),
])
def test_extra_spec_update_bad_input(client: TestClient, path: str, doc: Any) -> None:
    base = f"{T}/{_create(client)['id']}/extra_specs"
    _fault(client.put(f"{base}/{path}", json=doc), 400, "badRequest")


@pytest.mark.parametrize("doc", [
    None, {"extra_specs": None}, {"extra_specs": ["invalid"]}, {}, {"specs": {"a": "b"}},
    {"extra_specs": {"a": "b"}, "more": 1}, {"extra_specs": {"a b": "c"}},
])
def test_extra_specs_create_bad_input(client: TestClient, doc: Any) -> None:
    base = f"{T}/{_create(client)['id']}/extra_specs"
    _fault(client.post(base, json=doc), 400, "badRequest")


def test_type_access_on_a_private_type(client: TestClient) -> None:
    made = _create(client, name="private", **{"os-volume-type-access:is_public": False})
    action = f"{T}/{made['id']}/action"
    for project in ("p1", "p2"):
        assert client.post(action, json={"addProjectAccess": {"project": project}}
                           ).status_code == 202
    _fault(client.post(action, json={"addProjectAccess": {"project": "p1"}}),
           409, "conflictingRequest")
    listed = client.get(f"{T}/{made['id']}/os-volume-type-access").json()
    assert listed == {"volume_type_access": [
        {"volume_type_id": made["id"], "project_id": "p1"},
        {"volume_type_id": made["id"], "project_id": "p2"}]}
    assert client.post(action, json={"removeProjectAccess": {"project": "p1"}}
                       ).status_code == 202
    _fault(client.post(action, json={"removeProjectAccess": {"project": "p1"}}),
           404, "itemNotFound")
    for doc in ({"addProjectAccess": {}}, {"addProjectAccess": {"project": ""}},
                {"addProjectAccess": {"project": "p", "x": 1}}, {"addProjectAccess": "p"},
                {"frobnicate": {"project": "p"}}, {}):
        _fault(client.post(action, json=doc), 400, "badRequest")


def test_public_types_have_no_access_list(client: TestClient) -> None:
    made = _create(client)
    _fault(client.get(f"{T}/{made['id']}/os-volume-type-access"), 404, "itemNotFound")
    _fault(client.post(f"{T}/{made['id']}/action",
                       json={"addProjectAccess": {"project": "p"}}), 400, "badRequest")


def test_private_types_are_hidden_from_other_projects(client: TestClient) -> None:
    made = _create(client, name="private", **{"os-volume-type-access:is_public": False})
    client.post(f"{T}/{made['id']}/action", json={"addProjectAccess": {"project": "p1"}})
    volumes = client.app.state.services.volumes  # type: ignore[attr-defined]
    member, stranger = Caller("p1"), Caller("p2")
    assert [t.name for t in volumes.list_types(member)] == ["file", "private"]
    assert [t.name for t in volumes.list_types(stranger)] == ["file"]
    assert volumes.get_type(member, made["id"]).name == "private"
    with pytest.raises(NotFound):
        volumes.get_type(stranger, made["id"])
    with pytest.raises(NotFound):
        volumes.get_type(stranger, "private")


def test_types_manage_needs_the_admin_role(client: TestClient) -> None:
    admin = client.app.state.services.volumes.admin  # type: ignore[attr-defined]
    user = Caller("p1")
    calls = [
        lambda: admin.create_type(user, name="x", description=None, is_public=True,
                                  extra_specs={}),
        lambda: admin.delete_type(user, "x"),
        lambda: admin.set_type_specs(user, "x", {"a": "b"}),
        lambda: admin.add_type_access(user, "x", "p"),
        lambda: admin.services(user),
        lambda: admin.pools(user),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()


def test_types_created_over_the_api_survive_a_restart(client: TestClient) -> None:
    made = _create(client, name="kept", extra_specs={"volume_backend_name": "file"})
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    services = open_services(settings)
    try:
        vtype = services.volumes.get_type(Caller("p", is_admin=True), made["id"])
        assert (vtype.name, vtype.backend, vtype.configured) == ("kept", "file", False)
    finally:
        services.close()


def test_type_backends(client: TestClient) -> None:
    types = client.app.state.services.volumes.types  # type: ignore[attr-defined]
    plain = _create(client, name="plain")
    named = _create(client, name="named", extra_specs={"volume_backend_name": "file"})
    lost = _create(client, name="lost", extra_specs={"volume_backend_name": "nowhere"})
    assert types.backend_of(plain["name"]) == "file"
    assert types.backend_of(named["id"]) == "file"
    with pytest.raises(Exception, match="not a configured volume backend"):
        types.backend_of(lost["name"])


# -- services, hosts, pools, capabilities ------------------------------------------------------

def test_os_services_lists_the_scheduler_and_one_volume_service_per_backend(
        client: TestClient) -> None:
    services = client.get(P + "/os-services").json()["services"]
    assert [(s["binary"], s["host"]) for s in services] == [
        ("cinder-scheduler", "cowshed"), ("cinder-volume", "cowshed@file")]
    for svc in services:
        assert (svc["status"], svc["state"], svc["zone"]) == ("enabled", "up", "nova")
        assert svc["disabled_reason"] is None and svc["updated_at"]
    by_host = client.get(P + "/os-services", params={"host": "cowshed"}).json()["services"]
    assert len(by_host) == 2  # the host part matches every backend on it, as Cinder's filter
    by_both = client.get(P + "/os-services", params={
        "host": "cowshed", "binary": "cinder-volume"}).json()["services"]
    assert [s["host"] for s in by_both] == ["cowshed@file"]
    assert client.get(P + "/os-services", params={"host": "elsewhere"}).json() == {
        "services": []}
    latest = client.get(P + "/os-services", headers={"OpenStack-API-Version": "volume 3.49"})
    volume_svc = latest.json()["services"][1]
    assert volume_svc["backend_state"] == "up" and volume_svc["cluster"] is None


@pytest.mark.parametrize(("action", "doc", "status"), [
    ("enable", {"host": "invalid_host", "binary": "cinder-volume"}, 404),
    ("disable", {"host": "cowshed@file", "binary": "invalid_binary"}, 404),
    ("disable-log-reason", {"host": "cowshed@file", "binary": "cinder-volume",
                            "disabled_reason": None}, 400),
    ("freeze", {"host": "invalid_host"}, 400),
    ("thaw", {"host": "invalid_host"}, 400),
    ("disable", {"host": "cowshed@file", "binary": "cinder-volume"}, 400),
    ("enable", {"binary": "cinder-volume"}, 400),
    ("reboot", {"host": "cowshed@file", "binary": "cinder-volume"}, 404),
])
def test_os_services_updates_refused(client: TestClient, action: str, doc: dict[str, Any],
                                     status: int) -> None:
    resp = client.put(f"{P}/os-services/{action}", json=doc)
    assert resp.status_code == status, resp.text


def test_os_services_enable_answers_for_a_known_service(client: TestClient) -> None:
    resp = client.put(P + "/os-services/enable",
                      json={"host": "cowshed@file", "binary": "cinder-volume"})
    assert resp.status_code == 200
    assert resp.json() == {"disabled": False, "status": "enabled", "host": "cowshed@file",
                           "service": "", "binary": "cinder-volume", "disabled_reason": None}


def test_os_hosts_list_and_show(client: TestClient) -> None:
    hosts = client.get(P + "/os-hosts").json()["hosts"]
    assert [(h["service"], h["host_name"], h["service-state"]) for h in hosts] == [
        ("cinder-scheduler", "cowshed", "enabled"), ("cinder-volume", "cowshed@file", "enabled")]
    shown = client.get(P + "/os-hosts/cowshed@file").json()["host"]
    assert shown == [{"resource": {
        "volume_count": "0", "total_volume_gb": "0", "snapshot_count": "0",
        "total_snapshot_gb": "0", "project": "(total)", "host": "cowshed@file"}}]
    _fault(client.get(P + "/os-hosts/cowshed"), 404, "itemNotFound")
    _fault(client.get(P + "/os-hosts/nowhere"), 404, "itemNotFound")


def test_get_pools_and_capabilities_agree(client: TestClient) -> None:
    plain = client.get(P + "/scheduler-stats/get_pools").json()
    assert plain == {"pools": [{"name": "cowshed@file#file"}]}
    (pool,) = client.get(P + "/scheduler-stats/get_pools",
                         params={"detail": "True"}).json()["pools"]
    caps = pool["capabilities"]
    assert caps["volume_backend_name"] == "file" and caps["vendor_name"] == "Open Source"
    assert caps["storage_protocol"] == "file" and caps["reserved_percentage"] == 0
    for host in ("cowshed@file", "cowshed@file#file"):
        shown = client.get(f"{P}/capabilities/{host.replace('#', '%23')}").json()
        assert shown["namespace"] == f"OS::Storage::Capabilities::{host}"
        assert [shown[k] for k in ("vendor_name", "volume_backend_name", "storage_protocol")] \
            == [caps[k] for k in ("vendor_name", "volume_backend_name", "storage_protocol")]
    _fault(client.get(P + "/capabilities/cowshed@nowhere"), 404, "itemNotFound")
    _fault(client.get(P + "/scheduler-stats/get_pools", params={"detail": "perhaps"}),
           400, "badRequest")


# -- quotas ------------------------------------------------------------------------------------

Q = P + "/os-quota-sets/proj-a"


def test_quota_update_and_delete(client: TestClient) -> None:
    resp = client.put(Q, json={"quota_set": {"volumes": 11, "gigabytes": "1009",
                                             "snapshots": -1, "skip_validation": False}})
    assert resp.status_code == 200, resp.text
    limits = resp.json()["quota_set"]
    assert "id" not in limits
    assert (limits["volumes"], limits["gigabytes"], limits["snapshots"]) == (11, 1009, -1)
    assert limits["backups"] == 10 and limits["volumes_file"] == -1
    admin = client.app.state.services.volumes.admin  # type: ignore[attr-defined]
    assert admin.quota_limits.project_limits("proj-a")["volumes"] == 11
    assert admin.quota_limits.project_limits("proj-b")["volumes"] == -1
    assert client.delete(Q).status_code == 200
    assert admin.quota_limits.project_limits("proj-a")["volumes"] == -1


@pytest.mark.parametrize("doc", [
    {"quota_set": {"volumes": -2}},
    {"quota_set": {"volumes": "ten"}},
    {"quota_set": {"volumes": 1.5}},
    {"quota_set": {"volumes": True}},
    {"quota_set": {"volumes": None}},
    {"quota_set": {"volumes": 2**40}},
    {"quota_set": {"frobs": 1}},
    {"quota_set": {"volumes_nosuchtype": 1}},
    {"quota_set": {}},
    {"quota_set": {"skip_validation": "maybe", "volumes": 1}},
    {"quota_set": 5},
    {"quotas": {"volumes": 1}},
])
def test_quota_update_bad_input(client: TestClient, doc: Any) -> None:
    _fault(client.put(Q, json=doc), 400, "badRequest")


def test_quota_class_default_is_every_projects_default(client: TestClient) -> None:
    shown = client.get(P + "/os-quota-class-sets/default").json()["quota_class_set"]
    assert shown["id"] == "default" and shown["gigabytes"] == 1000
    gold = _create(client, name="gold")
    resp = client.put(P + "/os-quota-class-sets/default", json={"quota_class_set": {
        "gigabytes": 1001, f"volumes_{gold['name']}": 3}})
    assert resp.status_code == 200, resp.text
    updated = resp.json()["quota_class_set"]
    assert "id" not in updated and updated["gigabytes"] == 1001 and updated["volumes_gold"] == 3
    admin = client.app.state.services.volumes.admin  # type: ignore[attr-defined]
    assert admin.quota_limits.project_limits("any")["gigabytes"] == 1001
    client.put(Q, json={"quota_set": {"gigabytes": 5}})
    assert admin.quota_limits.project_limits("proj-a")["gigabytes"] == 5
    # a deleted type's limits drop out
    client.delete(f"{T}/{gold['id']}")
    assert "volumes_gold" not in admin.quota_limits.class_limits()
    _fault(client.put(P + "/os-quota-class-sets/default",
                      json={"quota_class_set": {"volumes": "x"}}), 400, "badRequest")


# -- QoS specs ---------------------------------------------------------------------------------

QS = P + "/qos-specs"


def _qos(client: TestClient, **spec: Any) -> dict[str, Any]:
    resp = client.post(QS, json={"qos_specs": spec})
    assert resp.status_code == 200, resp.text
    assert resp.json()["links"][0]["href"].endswith(f"/qos-specs/{resp.json()['qos_specs']['id']}")
    made: dict[str, Any] = resp.json()["qos_specs"]
    return made


def test_qos_specs_create_show_list_keys_delete(client: TestClient) -> None:
    made = _qos(client, name="fast", consumer="front-end", read_iops_sec="2000")
    assert made == {"name": "fast", "consumer": "front-end", "specs": {"read_iops_sec": "2000"},
                    "id": made["id"]}
    assert client.get(QS).json() == {"qos_specs": [made]}
    assert client.get(f"{QS}/{made['id']}").json()["qos_specs"] == made
    assert _qos(client, name="plain")["consumer"] == "back-end"
    resp = client.put(f"{QS}/{made['id']}", json={"qos_specs": {"iops_bytes": "500"}})
    assert resp.status_code == 200 and resp.json() == {"qos_specs": {"iops_bytes": "500"}}
    assert client.get(f"{QS}/{made['id']}").json()["qos_specs"]["specs"] == {
        "iops_bytes": "500", "read_iops_sec": "2000"}
    assert client.put(f"{QS}/{made['id']}/delete_keys",
                      json={"keys": ["iops_bytes"]}).status_code == 202
    _fault(client.put(f"{QS}/{made['id']}/delete_keys", json={"keys": ["iops_bytes"]}),
           404, "itemNotFound")
    assert client.delete(f"{QS}/{made['id']}").status_code == 202
    _fault(client.get(f"{QS}/{made['id']}"), 404, "itemNotFound")
    _fault(client.post(QS, json={"qos_specs": {"name": "plain"}}), 409, "conflictingRequest")


@pytest.mark.parametrize("spec", [
    {}, {"name": ""}, {"name": 5}, {"name": "q", "consumer": "middle"},
    {"name": "q", "k": 5}, {"name": "q", "k": "v" * 256},
])
def test_qos_specs_bad_input(client: TestClient, spec: dict[str, Any]) -> None:
    _fault(client.post(QS, json={"qos_specs": spec}), 400, "badRequest")


def test_qos_associations_reach_the_connection(client: TestClient) -> None:
    qos = _qos(client, name="limited", consumer="front-end", read_iops_sec="2000",
               total_bytes_sec="1048576", vendor_knob="x")
    gold = _create(client, name="gold")
    back = _qos(client, name="backend-only", consumer="back-end", read_iops_sec="1")
    assert client.get(f"{QS}/{qos['id']}/associate",
                      params={"vol_type_id": gold["id"]}).status_code == 202
    assert client.get(f"{QS}/{qos['id']}/associations").json() == {"qos_associations": [
        {"association_type": "volume_type", "name": "gold", "id": gold["id"]}]}
    assert client.get(f"{T}/{gold['id']}").json()["volume_type"]["qos_specs_id"] == qos["id"]
    _fault(client.get(f"{QS}/{back['id']}/associate", params={"vol_type_id": gold["id"]}),
           400, "badRequest")  # one QoS set per type
    _fault(client.get(f"{QS}/{qos['id']}/associate", params={"vol_type_id": UUID}), 404,
           "itemNotFound")
    _fault(client.get(f"{QS}/{qos['id']}/associate"), 400, "badRequest")
    _fault(client.delete(f"{QS}/{qos['id']}"), 400, "badRequest")  # in use

    resp = client.post(P + "/volumes", json={"volume": {"size": 1, "volume_type": "gold"}})
    vid = resp.json()["volume"]["id"]
    volumes = client.app.state.services.volumes  # type: ignore[attr-defined]
    volumes.wait_volume(vid, 60)
    info = client.post(f"{P}/volumes/{vid}/action", json={"os-initialize_connection": {
        "connector": {"host": "h"}}}).json()["connection_info"]
    assert info["data"]["qos_specs"] == {"read_iops_sec": "2000", "total_bytes_sec": "1048576",
                                         "vendor_knob": "x"}
    caller = Caller(client.get(f"{P}/volumes/{vid}").json()["volume"][
        "os-vol-tenant-attr:tenant_id"], is_admin=True)
    xml = volumes.initialize_connection(caller, vid, {"host": "h"}).libvirt_xml
    assert "<read_iops_sec>2000</read_iops_sec>" in xml and "vendor_knob" not in xml
    assert "<total_bytes_sec>1048576</total_bytes_sec>" in xml

    assert client.get(f"{QS}/{qos['id']}/disassociate",
                      params={"vol_type_id": gold["id"]}).status_code == 202
    info = client.post(f"{P}/volumes/{vid}/action", json={"os-initialize_connection": {
        "connector": {"host": "h"}}}).json()["connection_info"]
    assert info["data"]["qos_specs"] is None
    client.get(f"{QS}/{back['id']}/associate", params={"vol_type_id": gold["id"]})
    info = client.post(f"{P}/volumes/{vid}/action", json={"os-initialize_connection": {
        "connector": {"host": "h"}}}).json()["connection_info"]
    assert info["data"]["qos_specs"] is None  # back-end specs never reach the hypervisor
    assert client.get(f"{QS}/{back['id']}/disassociate_all").status_code == 202
    assert client.get(f"{QS}/{back['id']}/associations").json() == {"qos_associations": []}
    assert client.delete(f"{QS}/{qos['id']}", params={"force": "true"}).status_code == 202
