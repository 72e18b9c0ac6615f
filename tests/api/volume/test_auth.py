"""The volume API behind real authentication (the standalone identity, in process): a missing
token is keystonemiddleware's 401, a member acts for its own project only, admin routes are 403
for members, and private volume types are hidden from projects they are not shared with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowshed.api.app import create_app
from cowshed.config import load_settings
from tests.api.helpers import TestClient

PASSWORD = "volume-auth-admin-pw"


def _login(client: TestClient, user: str, password: str, project: str) -> dict[str, str]:
    resp = client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    assert resp.status_code == 201, resp.text
    return {"X-Auth-Token": resp.headers["x-subject-token"]}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    data: Path = tmp_path_factory.mktemp("volume-auth")
    settings = load_settings(data_dir=data, environ={
        "COWSHED_AUTH_STRATEGY": "standalone", "COWSHED_ADMIN_PASSWORD": PASSWORD})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        admin = _login(client, "admin", PASSWORD, "admin")
        people: dict[str, Any] = {"admin": admin}
        member_role = client.get("/identity/v3/roles?name=member",
                                 headers=admin).json()["roles"][0]["id"]
        for name in ("alpha", "beta"):
            project = client.post("/identity/v3/projects", headers=admin, json={
                "project": {"name": name}}).json()["project"]["id"]
            user = client.post("/identity/v3/users", headers=admin, json={
                "user": {"name": f"{name}-user", "password": "pw"}}).json()["user"]["id"]
            client.put(f"/identity/v3/projects/{project}/users/{user}/roles/{member_role}",
                       headers=admin)
            people[name] = _login(client, f"{name}-user", "pw", name)
            people[f"{name}-id"] = project
        yield client, people


def test_no_token_is_keystonemiddlewares_401(cloud: tuple[TestClient, Any]) -> None:
    client, _ = cloud
    # under COWSHED_TEST_AUTH=standalone the suite gives every client an admin token: drop it
    token = client.headers.pop("x-auth-token", None)
    try:
        resp = client.get("/volume/v3/p/volumes")
    finally:
        if token is not None:
            client.headers["x-auth-token"] = token
    assert resp.status_code == 401
    assert resp.json() == {"error": {"code": 401, "title": "Unauthorized",
                                     "message": "The request you have made requires "
                                                "authentication."}}
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert client.get("/volume/").status_code == 300  # discovery needs no token


def test_members_act_for_their_own_project(cloud: tuple[TestClient, Any]) -> None:
    client, people = cloud
    alpha, beta = people["alpha"], people["beta"]
    base = f"/volume/v3/{people['alpha-id']}"
    made = client.post(base + "/volumes", headers=alpha, json={"volume": {"size": 1}})
    assert made.status_code == 202, made.text
    vid = made.json()["volume"]["id"]
    shown = client.get(f"{base}/volumes/{vid}", headers=alpha).json()["volume"]
    assert shown["os-vol-tenant-attr:tenant_id"] == people["alpha-id"]
    assert "os-vol-host-attr:host" not in shown  # admins only
    other = f"/volume/v3/{people['beta-id']}"
    assert client.get(f"{other}/volumes/{vid}", headers=beta).status_code == 404
    assert client.get(other + "/volumes", headers=beta).json() == {"volumes": []}
    everything = client.get(other + "/volumes", headers=beta, params={"all_tenants": "1"})
    assert everything.json() == {"volumes": []}  # ignored for non-admins, as Cinder
    assert client.get(f"{base}/volumes", headers=people["admin"],
                      params={"all_tenants": "1"}).json()["volumes"][0]["id"] == vid


@pytest.mark.parametrize(("method", "path", "doc"), [
    ("POST", "/types", {"volume_type": {"name": "x"}}),
    ("GET", "/os-services", None),
    ("GET", "/scheduler-stats/get_pools", None),
    ("GET", "/os-hosts", None),
    ("PUT", "/os-quota-sets/p", {"quota_set": {"volumes": 1}}),
    ("GET", "/os-quota-class-sets/default", None),
    ("GET", "/qos-specs", None),
])
def test_admin_routes_are_forbidden_to_members(cloud: tuple[TestClient, Any], method: str,
                                               path: str, doc: Any) -> None:
    client, people = cloud
    resp = client.request(method, f"/volume/v3/{people['alpha-id']}{path}", json=doc,
                          headers=people["alpha"])
    assert resp.status_code == 403, resp.text
    assert list(resp.json()) == ["forbidden"]


def test_private_types_need_access(cloud: tuple[TestClient, Any]) -> None:
    client, people = cloud
    admin, alpha, beta = people["admin"], people["alpha"], people["beta"]
    base = f"/volume/v3/{people['alpha-id']}"
    vtype = client.post(base + "/types", headers=admin, json={"volume_type": {
        "name": "secret", "os-volume-type-access:is_public": False}}).json()["volume_type"]
    client.post(f"{base}/types/{vtype['id']}/action", headers=admin,
                json={"addProjectAccess": {"project": people["alpha-id"]}})
    assert "secret" in [t["name"] for t in client.get(base + "/types",
                                                        headers=alpha).json()["volume_types"]]
    other = f"/volume/v3/{people['beta-id']}"
    assert "secret" not in [t["name"] for t in client.get(
        other + "/types", headers=beta).json()["volume_types"]]
    refused = client.post(other + "/volumes", headers=beta, json={"volume": {
        "size": 1, "volume_type": vtype["id"]}})
    assert refused.status_code == 404, refused.text
    allowed = client.post(base + "/volumes", headers=alpha, json={"volume": {
        "size": 1, "volume_type": vtype["id"]}})
    assert allowed.status_code == 202, allowed.text
    assert allowed.json()["volume"]["volume_type"] == "secret"
