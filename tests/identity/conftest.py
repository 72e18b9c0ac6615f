"""An in-process app with the standalone identity, and a small client for its Identity API.

``cloud`` is one app for a whole module (fresh data dir), with two projects (``alpha``,
``beta``) and four users: ``alice`` (member of alpha), ``rita`` (reader of alpha), ``bob``
(member of beta) and the bootstrap ``admin``. Tokens come from real password logins.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowshed.api.app import create_app
from cowshed.config import load_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ADMIN_PASSWORD = "admin-secret"


def password_body(user: str, password: str, project: str | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": "default"}, "password": password}}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


@dataclass
class Cloud:
    client: TestClient
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)

    def login(self, user: str, password: str, project: str | None) -> httpx.Response:
        return self.client.post("/identity/v3/auth/tokens",
                                json=password_body(user, password, project))

    def token(self, user: str, password: str, project: str | None) -> str:
        resp = self.login(user, password, project)
        assert resp.status_code == 201, resp.text
        return resp.headers["x-subject-token"]

    def as_(self, who: str) -> dict[str, str]:
        return {"X-Auth-Token": self.tokens[who]}

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, "/identity/v3" + path, headers=self.as_("admin"),
                                   **kwargs)

    def add_project(self, name: str) -> str:
        resp = self.admin("POST", "/projects", json={"project": {"name": name}})
        assert resp.status_code == 201, resp.text
        self.projects[name] = resp.json()["project"]["id"]
        return self.projects[name]

    def add_user(self, name: str, project: str, role: str) -> str:
        resp = self.admin("POST", "/users", json={"user": {"name": name, "password": f"{name}-pw"}})
        assert resp.status_code == 201, resp.text
        user_id = resp.json()["user"]["id"]
        roles = self.admin("GET", f"/roles?name={role}").json()["roles"]
        grant = f"/projects/{self.projects[project]}/users/{user_id}/roles/{roles[0]['id']}"
        assert self.admin("PUT", grant).status_code == 204
        self.tokens[name] = self.token(name, f"{name}-pw", project)
        return user_id


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    data = tmp_path_factory.mktemp("standalone")
    settings = load_settings(data_dir=data, environ={
        "COWSHED_AUTH_STRATEGY": "standalone", "COWSHED_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        c = Cloud(client, data)
        c.tokens["admin"] = c.token("admin", ADMIN_PASSWORD, "admin")
        c.projects["admin"] = client.get(
            "/identity/v3/auth/tokens",
            headers={**c.as_("admin"), "X-Subject-Token": c.tokens["admin"]},
        ).json()["token"]["project"]["id"]
        c.add_project("alpha")
        c.add_project("beta")
        c.add_user("alice", "alpha", "member")
        c.add_user("rita", "alpha", "reader")
        c.add_user("bob", "beta", "member")
        yield c
