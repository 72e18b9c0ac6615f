"""The Identity API v3 wire: discovery, token issue/validate/revoke in their variants, errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.identity.conftest import ADMIN_PASSWORD, Cloud, password_body


def test_discovery_documents(cloud: Cloud) -> None:
    c = cloud.client
    root = c.get("/identity")
    assert root.status_code == 300
    (version,) = root.json()["versions"]["values"]
    assert version["id"].startswith("v3.") and version["status"] == "stable"
    assert version["links"][0]["href"] == "http://testserver/identity/v3/"
    assert c.get("/identity/").status_code == 300
    v3 = c.get("/identity/v3")
    assert v3.status_code == 200 and v3.json()["version"]["id"] == version["id"]


def test_token_body_and_headers(cloud: Cloud) -> None:
    resp = cloud.login("alice", "alice-pw", "alpha")
    assert resp.status_code == 201
    token: dict[str, Any] = resp.json()["token"]
    assert token["methods"] == ["password"] and len(token["audit_ids"]) == 1
    assert token["project"]["id"] == cloud.projects["alpha"]
    assert token["project"]["domain"] == {"id": "default", "name": "Default"}
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert token["expires_at"].endswith("Z") and token["issued_at"] < token["expires_at"]
    image = next(s for s in token["catalog"] if s["type"] == "image")
    assert {e["interface"] for e in image["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["url"] == "http://testserver/image" for e in image["endpoints"])
    subject = resp.headers["x-subject-token"]
    nocat = cloud.client.post("/identity/v3/auth/tokens?nocatalog",
                              json=password_body("alice", "alice-pw", "alpha"))
    assert "catalog" not in nocat.json()["token"]
    # validate: the subject's own token may look at itself; HEAD answers 200 with no body
    headers = {"X-Auth-Token": subject, "X-Subject-Token": subject}
    shown = cloud.client.get("/identity/v3/auth/tokens", headers=headers)
    assert shown.status_code == 200 and shown.json()["token"]["user"]["name"] == "alice"
    assert cloud.client.head("/identity/v3/auth/tokens", headers=headers).status_code == 200
    # someone else's token: 403 for a non-admin, 200 for an admin
    other = {"X-Auth-Token": cloud.tokens["bob"], "X-Subject-Token": subject}
    assert cloud.client.get("/identity/v3/auth/tokens", headers=other).status_code == 403
    admin = {"X-Auth-Token": cloud.tokens["admin"], "X-Subject-Token": subject}
    assert cloud.client.get("/identity/v3/auth/tokens", headers=admin).status_code == 200
    bogus = {"X-Auth-Token": cloud.tokens["admin"], "X-Subject-Token": "bogus"}
    assert cloud.client.get("/identity/v3/auth/tokens", headers=bogus).status_code == 404


def test_rescoping_with_the_token_method(cloud: Cloud) -> None:
    unscoped = cloud.client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
        "scope": "unscoped"}})
    assert unscoped.status_code == 201
    body = unscoped.json()["token"]
    assert "project" not in body and "catalog" not in body and "roles" not in body
    first = unscoped.headers["x-subject-token"]
    scoped = cloud.client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": first}},
        "scope": {"project": {"id": cloud.projects["beta"]}}}})
    assert scoped.status_code == 401  # admin holds no role on beta
    scoped = cloud.client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": first}},
        "scope": {"domain": {"id": "default"}}}})
    assert scoped.status_code == 201
    token = scoped.json()["token"]
    assert token["domain"]["id"] == "default" and token["expires_at"] == body["expires_at"]
    assert token["audit_ids"][1] == body["audit_ids"][0]
    assert token["methods"] == ["password", "token"]
    # revoking the first token ends the chain
    cloud.client.delete("/identity/v3/auth/tokens", headers={
        "X-Auth-Token": cloud.tokens["admin"], "X-Subject-Token": first})
    assert cloud.client.get("/identity/v3/users", headers={
        "X-Auth-Token": scoped.headers["x-subject-token"]}).status_code == 401


@pytest.mark.parametrize(("body", "status"), [
    ({}, 400), ({"auth": {}}, 400), ({"auth": {"identity": {"methods": "password"}}}, 400),
    ({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "alice", "password": "alice-pw"}}}}}, 400),  # a name needs its domain
    ({"auth": {"identity": {"methods": ["totp"]}}}, 401),
    (password_body("alice", "wrong", "alpha"), 401), (password_body("ghost", "x"), 401),
    (password_body("alice", "alice-pw", "beta"), 401),  # no role there
    (password_body("alice", "alice-pw", "nowhere"), 401),
    ({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "alice", "domain": {"id": "other"}, "password": "alice-pw"}}}}}, 401),
    ({"auth": {"identity": {"methods": ["token"], "token": {"id": "forged"}}}}, 401),
    ({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "alice", "domain": {"id": "default"}, "password": "alice-pw"}}},
        "scope": {"system": {"all": True}}}}, 400),
])
def test_bad_logins(cloud: Cloud, body: dict[str, Any], status: int) -> None:
    resp = cloud.client.post("/identity/v3/auth/tokens", json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == status
    assert "x-subject-token" not in resp.headers


def test_users_projects_roles_crud(cloud: Cloud) -> None:
    project = cloud.admin("POST", "/projects", json={"project": {"name": "crud"}})
    assert project.status_code == 201
    pid = project.json()["project"]["id"]
    assert cloud.admin("POST", "/projects", json={"project": {"name": "crud"}}).status_code == 409
    assert cloud.admin("POST", "/projects", json={"project": {"name": " x"}}).status_code == 400
    user = cloud.admin("POST", "/users", json={"user": {"name": "carol", "password": "c-pw",
                                                         "default_project_id": pid}})
    uid = user.json()["user"]["id"]
    assert cloud.admin("GET", "/users?name=carol").json()["users"][0]["id"] == uid
    assert cloud.admin("GET", "/users/carol").status_code == 404
    role = cloud.admin("POST", "/roles", json={"role": {"name": "auditor"}}).json()["role"]
    grant = f"/projects/{pid}/users/{uid}/roles/{role['id']}"
    assert cloud.admin("GET", grant).status_code == 404
    assert cloud.admin("PUT", grant).status_code == 204
    assert cloud.admin("PUT", grant).status_code == 204  # idempotent
    assert cloud.admin("GET", grant).status_code == 204
    listed = cloud.admin("GET", f"/projects/{pid}/users/{uid}/roles").json()["roles"]
    assert [r["name"] for r in listed] == ["auditor"]
    found = cloud.admin("GET", f"/role_assignments?user.id={uid}&include_names").json()
    assert found["role_assignments"][0]["role"]["name"] == "auditor"
    # the user itself: reads itself, lists its projects, changes its password
    token = cloud.token("carol", "c-pw", None)  # scoped to its default project
    own = {"X-Auth-Token": token}
    assert cloud.client.get(f"/identity/v3/users/{uid}", headers=own).status_code == 200
    projects = cloud.client.get("/identity/v3/auth/projects", headers=own).json()["projects"]
    assert [p["id"] for p in projects] == [pid]
    change = cloud.client.post(f"/identity/v3/users/{uid}/password", headers=own, json={
        "user": {"original_password": "wrong", "password": "n"}})
    assert change.status_code == 401
    change = cloud.client.post(f"/identity/v3/users/{uid}/password", headers=own, json={
        "user": {"original_password": "c-pw", "password": "c-pw-2"}})
    assert change.status_code == 204
    assert cloud.client.get(f"/identity/v3/users/{uid}", headers=own).status_code == 401
    patched = cloud.admin("PATCH", f"/users/{uid}", json={"user": {"enabled": False}})
    assert patched.json()["user"]["enabled"] is False
    assert cloud.login("carol", "c-pw-2", "crud").status_code == 401
    assert cloud.admin("DELETE", f"/users/{uid}").status_code == 204
    assert cloud.admin("DELETE", f"/projects/{pid}").status_code == 204
    assert cloud.admin("DELETE", f"/roles/{role['id']}").status_code == 204
    assert cloud.admin("GET", "/domains/default").json()["domain"]["name"] == "Default"
    assert cloud.admin("GET", "/domains/other").status_code == 404
    assert cloud.admin("PATCH", "/roles/x").status_code == 405
