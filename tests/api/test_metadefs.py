"""/v2/metadefs: every route, with Glance's status codes for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from cowshed.domain.context import RequestContext
from cowshed.domain.metadefs import ItemKind, NamespaceQuery
from cowshed.errors import Forbidden, NotFound
from tests.api.helpers import TestClient, json_error

NS = "/v2/metadefs/namespaces"
BUILTIN_TYPES = {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
                 "OS::Nova::Server", "OS::Nova::Aggregate"}
PROP = {"name": "hypervisor", "title": "Hypervisor", "type": "string",
        "enum": ["kvm", "qemu"], "description": "which one"}


def make_ns(client: TestClient, name: str = "test::ns", **body: Any) -> dict[str, Any]:
    resp = client.post(NS, json={"namespace": name, **body})
    assert resp.status_code == 201, resp.text
    record: dict[str, Any] = resp.json()
    return record


def test_builtin_resource_types_and_namespaces(client: TestClient) -> None:
    resp = client.get("/v2/metadefs/resource_types")
    assert resp.status_code == 200
    types = resp.json()["resource_types"]
    assert {t["name"] for t in types} >= BUILTIN_TYPES
    assert all(set(t) == {"name", "created_at", "updated_at"} for t in types)
    listed = client.get(NS).json()["namespaces"]
    names = {n["namespace"] for n in listed}
    assert {"cowshed::Disk", "cowshed::Firmware", "cowshed::Placement"} <= names
    disk = client.get(f"{NS}/cowshed::Disk").json()
    assert disk["protected"] is True and disk["visibility"] == "public"
    assert disk["properties"]["disk_bus"]["type"] == "string"
    assoc = {a["name"]: a for a in disk["resource_type_associations"]}
    assert assoc["OS::Glance::Image"]["prefix"] == "hw_"


def test_namespace_life_cycle(client: TestClient) -> None:
    created = make_ns(client, "life::ns", display_name="Life", description="d",
                      visibility="public", protected=True,
                      resource_type_associations=[{"name": "OS::Nova::Flavor", "prefix": "x:"}])
    assert created["self"] == f"{NS}/life::ns"
    assert created["schema"] == "/v2/schemas/metadefs/namespace"
    assert (created["visibility"], created["protected"]) == ("public", True)
    shown = client.get(f"{NS}/life::ns").json()
    assert shown["resource_type_associations"][0]["prefix"] == "x:"
    json_error(client.delete(f"{NS}/life::ns"), 403)
    resp = client.put(f"{NS}/life::ns", json={"namespace": "life::ns", "visibility": "private",
                                               "protected": False, "description": "new"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["visibility"], resp.json()["protected"]) == ("private", False)
    assert resp.json()["description"] == "new"
    assert client.delete(f"{NS}/life::ns").status_code == 204
    json_error(client.get(f"{NS}/life::ns"), 404)


def test_namespace_bad_input(client: TestClient) -> None:
    make_ns(client, "dup::ns")
    json_error(client.post(NS, json={"namespace": "dup::ns"}), 409)
    for body in ({}, {"namespace": ""}, {"namespace": "x" * 81}, {"namespace": "a/b"},
                 {"namespace": "n1", "visibility": "world"}, {"namespace": "n1", "bogus": 1},
                 {"namespace": "n1", "protected": "yes"}, {"namespace": "n1", "description": 5},
                 {"namespace": "n1", "properties": {"p": {"title": "t", "type": "strange"}}},
                 {"namespace": "n1", "objects": [{"description": "no name"}]},
                 {"namespace": "n1", "tags": [{"name": "t"}, {"name": "t"}]}, []):
        json_error(client.post(NS, json=body), 400)
    json_error(client.post(NS, json={"namespace": "n2", "resource_type_associations": [
        {"name": "OS::No::Such"}]}), 404)
    for method in ("GET", "PUT", "DELETE"):
        json_error(client.request(method, f"{NS}/no::such", json={"namespace": "x"}), 404)
    make_ns(client, "other::ns")
    json_error(client.put(f"{NS}/other::ns", json={"namespace": "dup::ns"}), 409)
    json_error(client.put(f"{NS}/other::ns", json={"visibility": "world"}), 400)


def test_namespace_list_filters_sort_and_pages(client: TestClient) -> None:
    for i in range(3):
        make_ns(client, f"page::{i}", visibility="private",
                resource_type_associations=[{"name": "OS::Nova::Aggregate"}] if i == 1 else [])
    private = client.get(NS, params={"visibility": "private"}).json()["namespaces"]
    assert [n["namespace"] for n in private] == ["page::2", "page::1", "page::0"]
    by_type = client.get(NS, params={"resource_types": "OS::Nova::Aggregate,OS::X"}).json()
    assert "page::1" in {n["namespace"] for n in by_type["namespaces"]}
    assert "page::0" not in {n["namespace"] for n in by_type["namespaces"]}
    first = client.get(NS, params={"visibility": "private", "limit": 2, "sort_key": "namespace",
                                   "sort_dir": "asc"}).json()
    assert [n["namespace"] for n in first["namespaces"]] == ["page::0", "page::1"]
    rest = client.get(first["next"]).json()
    assert [n["namespace"] for n in rest["namespaces"]] == ["page::2"]
    assert "next" not in rest
    for params in ({"limit": "x"}, {"limit": -1}, {"sort_key": "owner"}, {"sort_dir": "up"},
                   {"visibility": "all"}, {"marker": "no::such"}):
        json_error(client.get(NS, params=params), 400)


def test_objects(client: TestClient) -> None:
    make_ns(client)
    path = f"{NS}/test::ns/objects"
    body = {"name": "obj", "description": "o", "required": ["a"],
            "properties": {"a": {"title": "A", "type": "integer", "minimum": 1}}}
    resp = client.post(path, json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["self"] == f"{path}/obj"
    assert resp.json()["properties"]["a"]["minimum"] == 1
    json_error(client.post(path, json=body), 409)
    json_error(client.post(path, json={"name": "x", "required": "a"}), 400)
    json_error(client.post(path, json={"name": "x", "extra": 1}), 400)
    listed = client.get(path).json()
    assert [o["name"] for o in listed["objects"]] == ["obj"]
    assert client.get(f"{path}/obj").json()["required"] == ["a"]
    resp = client.put(f"{path}/obj", json={"name": "renamed"})
    assert resp.status_code == 200 and resp.json()["name"] == "renamed"
    json_error(client.get(f"{path}/obj"), 404)
    json_error(client.put(f"{path}/obj", json={"name": "y"}), 404)
    assert client.delete(f"{path}/renamed").status_code == 204
    json_error(client.delete(f"{path}/renamed"), 404)
    client.post(path, json={"name": "o1"})
    assert client.delete(path).status_code == 204
    assert client.get(path).json()["objects"] == []
    json_error(client.get(f"{NS}/no::such/objects"), 404)


def test_properties_and_resource_type_prefix(client: TestClient) -> None:
    make_ns(client)
    path = f"{NS}/test::ns/properties"
    resp = client.post(path, json=PROP)
    assert resp.status_code == 201, resp.text
    assert resp.json() == PROP
    json_error(client.post(path, json=PROP), 409)
    for bad in ({"name": "p", "type": "string"}, {"name": "p", "title": "t"},
                {"name": "p", "title": "t", "type": "string", "minLength": -1},
                {"name": "p", "title": "t", "type": "string", "wat": 1}):
        json_error(client.post(path, json=bad), 400)
    assert client.get(path).json()["properties"]["hypervisor"]["enum"] == ["kvm", "qemu"]
    assert client.get(f"{path}/hypervisor").json()["name"] == "hypervisor"
    resp = client.post(f"{NS}/test::ns/resource_types",
                       json={"name": "OS::Glance::Image", "prefix": "hw_",
                             "properties_target": "image"})
    assert resp.status_code == 201 and resp.json()["prefix"] == "hw_"
    shown = client.get(f"{NS}/test::ns", params={"resource_type": "OS::Glance::Image"}).json()
    assert list(shown["properties"]) == ["hw_hypervisor"]
    prop = client.get(f"{path}/hw_hypervisor", params={"resource_type": "OS::Glance::Image"})
    assert prop.status_code == 200 and prop.json()["name"] == "hw_hypervisor"
    json_error(client.get(f"{path}/hypervisor", params={"resource_type": "OS::Glance::Image"}),
               404)
    resp = client.put(f"{path}/hypervisor", json={**PROP, "title": "New"})
    assert resp.status_code == 200 and resp.json()["title"] == "New"
    assert client.delete(f"{path}/hypervisor").status_code == 204
    assert client.get(path).json()["properties"] == {}


def test_tags_single_batch_and_append(client: TestClient) -> None:
    make_ns(client)
    path = f"{NS}/test::ns/tags"
    resp = client.post(path, json={"tags": [{"name": "a"}, {"name": "b"}]})
    assert resp.status_code == 201 and [t["name"] for t in resp.json()["tags"]] == ["a", "b"]
    resp = client.post(path, json={"tags": [{"name": "c"}]})
    assert [t["name"] for t in client.get(path).json()["tags"]] == ["c"]
    resp = client.post(path, json={"tags": [{"name": "d"}]}, headers={"X-Openstack-Append": "True"})
    assert resp.status_code == 201
    assert sorted(t["name"] for t in client.get(path).json()["tags"]) == ["c", "d"]
    json_error(client.post(path, json={"tags": [{"name": "c"}]},
                           headers={"X-Openstack-Append": "true"}), 409)
    json_error(client.post(path, json={"tags": [{"name": "e"}, {"name": "e"}]}), 409)
    json_error(client.post(path, json={"tags": "x"}), 400)
    resp = client.post(f"{path}/single")
    assert resp.status_code == 201 and resp.json()["name"] == "single"
    json_error(client.post(f"{path}/single"), 409)
    assert client.get(f"{path}/single").json()["name"] == "single"
    resp = client.put(f"{path}/single", json={"name": "renamed"})
    assert resp.status_code == 200 and resp.json()["name"] == "renamed"
    json_error(client.put(f"{path}/renamed", json={"name": "c"}), 409)
    json_error(client.put(f"{path}/renamed", json={}), 400)
    assert client.delete(f"{path}/renamed").status_code == 204
    json_error(client.get(f"{path}/renamed"), 404)
    assert client.delete(path).status_code == 204
    assert client.get(path).json()["tags"] == []


def test_associations(client: TestClient) -> None:
    make_ns(client)
    path = f"{NS}/test::ns/resource_types"
    resp = client.post(path, json={"name": "OS::Cinder::Volume"})
    assert resp.status_code == 201, resp.text
    json_error(client.post(path, json={"name": "OS::Cinder::Volume"}), 409)
    json_error(client.post(path, json={"name": "OS::No::Such"}), 404)
    json_error(client.post(path, json={"prefix": "x"}), 400)
    listed = client.get(path).json()["resource_type_associations"]
    assert [a["name"] for a in listed] == ["OS::Cinder::Volume"]
    assert client.delete(f"{path}/OS::Cinder::Volume").status_code == 204
    json_error(client.delete(f"{path}/OS::Cinder::Volume"), 404)
    assert client.get(path).json()["resource_type_associations"] == []


def test_protected_namespace_keeps_its_contents(client: TestClient) -> None:
    make_ns(client, "prot::ns", protected=True, tags=[{"name": "t"}],
            properties={"p": {"title": "P", "type": "boolean"}},
            objects=[{"name": "o"}], resource_type_associations=[{"name": "OS::Nova::Server"}])
    for sub in ("tags/t", "properties/p", "objects/o", "resource_types/OS::Nova::Server",
                "tags", "objects", "properties", ""):
        json_error(client.delete(f"{NS}/prot::ns/{sub}".rstrip("/")), 403)
    shown = client.get(f"{NS}/prot::ns").json()
    assert [t["name"] for t in shown["tags"]] == ["t"] and list(shown["properties"]) == ["p"]
    assert [o["name"] for o in shown["objects"]] == ["o"]


@pytest.mark.parametrize(("name", "title"), [
    ("namespace", "namespace"), ("namespaces", "namespaces"),
    ("resource_type", "resource_type_association"),
    ("resource_types", "resource_type_associations"), ("object", "object"),
    ("objects", "objects"), ("property", "property"), ("properties", "properties"),
    ("tag", "tag"), ("tags", "tags"),
])
def test_schemas(client: TestClient, name: str, title: str) -> None:
    resp = client.get(f"/v2/schemas/metadefs/{name}")
    assert resp.status_code == 200 and resp.json()["name"] == title
    json_error(client.get("/v2/schemas/metadefs/nothing"), 404)


def test_wrong_methods_are_405(client: TestClient) -> None:
    json_error(client.post("/v2/metadefs/resource_types", json={}), 405)
    json_error(client.patch(f"{NS}/cowshed::Disk", json={}), 405)


def test_policy_and_visibility_for_a_project_member(client: TestClient) -> None:
    """Only an admin changes definitions; a private namespace is 404 to other projects."""
    svc = client.app.state.services.metadefs  # type: ignore[attr-defined]
    member = RequestContext(user_id="u", project_id="p1", roles=frozenset({"member", "reader"}),
                            is_admin=False, request_id="req-1")
    with pytest.raises(Forbidden):
        svc.create_namespace(member, {"namespace": "m::ns"})
    with pytest.raises(Forbidden):
        svc.delete_item(member, "cowshed::Disk", ItemKind.TAG, "virtio")
    make_ns(client, "priv::ns", visibility="private", owner="p2")
    make_ns(client, "mine::ns", visibility="private", owner="p1")
    with pytest.raises(NotFound):
        svc.get_namespace(member, "priv::ns")
    with pytest.raises(NotFound):
        svc.items(member, "priv::ns", ItemKind.TAG)
    listed = {d.namespace.namespace for d in svc.list_namespaces(member, NamespaceQuery())}
    assert "mine::ns" in listed and "cowshed::Disk" in listed and "priv::ns" not in listed
    assert svc.get_namespace(member, "mine::ns").namespace.owner == "p1"
