"""The real ``openstack`` CLI with password auth against ``cowshed serve --auth-strategy
standalone``: Keystone v3 discovery under /identity, tokens, the catalog, users, projects and
roles, then images found through the catalog, shared between two projects.

Each command is its own process, as an operator types it (so this module costs some tens of
seconds: the CLI takes a second or two to start).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.helpers import client_env, run_cli, tool
from tests.integration._server import Server

pytestmark = pytest.mark.clients
ADMIN_PASSWORD = "cli-admin-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("osc-standalone")
    config = root / "cowshed.toml"
    config.write_text(f'auth_strategy = "standalone"\nadmin_password = "{ADMIN_PASSWORD}"\n')
    srv = Server(root / "data", config=config)
    srv.start(timeout=60)
    try:
        yield srv
    finally:
        srv.stop()


class Osc:
    def __init__(self, server: Server, user: str, password: str, project: str) -> None:
        self.env = {**client_env(), "OS_AUTH_URL": server.url + "/identity",
                    "OS_USERNAME": user, "OS_PASSWORD": password, "OS_PROJECT_NAME": project,
                    "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                    "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public"}
        self.exe = tool("openstack")

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli([self.exe, *args], ok=ok, env=self.env)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-f", "json").stdout)


def test_identity_and_images_through_the_catalog(server: Server, tmp_path: Path) -> None:
    admin = Osc(server, "admin", ADMIN_PASSWORD, "admin")
    token = admin.json("token", "issue")
    assert token["project_id"] and token["user_id"] and token["expires"]
    services = {s["Type"]: s for s in admin.json("catalog", "list")}
    assert {"identity", "image", "volumev3"} <= set(services)
    assert server.url + "/image" in json.dumps(services["image"]["Endpoints"])
    # two projects, a member in each and a reader
    for project in ("alpha", "beta"):
        admin("project", "create", project)
    for user, project, role in (("alice", "alpha", "member"), ("bob", "beta", "member"),
                                ("rita", "alpha", "reader")):
        admin("user", "create", "--password", f"{user}-pw", "--project", project, user)
        admin("role", "add", "--project", project, "--user", user, role)
    names = {(a["Role"], a["User"], a["Project"])
             for a in admin.json("role", "assignment", "list", "--names")}
    assert ("member", "alice@Default", "alpha@Default") in names
    assert {u["Name"] for u in admin.json("user", "list")} >= {"admin", "alice", "bob", "rita"}
    alice = Osc(server, "alice", "alice-pw", "alpha")
    bob = Osc(server, "bob", "bob-pw", "beta")
    rita = Osc(server, "rita", "rita-pw", "alpha")
    projects = {p["Name"]: p["ID"] for p in admin.json("project", "list")}
    alpha, beta = projects["alpha"], projects["beta"]

    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(1 << 20) + b"tail")
    image = alice.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                       "--file", str(data), "--property", "colour=teal", "shared-one")
    image_id = image["id"]
    assert image["owner"] == alpha and image["status"] == "active"
    alice("image", "set", "--tag", "blue", "--property", "colour=green", image_id)
    shown = alice.json("image", "show", image_id)
    assert shown["tags"] == ["blue"] and shown["properties"]["colour"] == "green"
    saved = tmp_path / "saved.raw"
    alice("image", "save", "--file", str(saved), image_id)
    assert saved.read_bytes() == data.read_bytes()
    # the reader sees it but may not change it; beta does not see it at all
    assert image_id in {i["ID"] for i in rita.json("image", "list")}
    assert rita("image", "set", "--name", "x", image_id, ok=False).returncode != 0
    assert image_id not in {i["ID"] for i in bob.json("image", "list")}

    # share with beta: pending, then accepted
    alice("image", "add", "project", image_id, beta)
    members = alice.json("image", "member", "list", image_id)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(beta, "pending")]
    assert image_id not in {i["ID"] for i in bob.json("image", "list", "--shared")}
    bob("image", "set", "--accept", image_id)
    assert image_id in {i["ID"] for i in bob.json("image", "list", "--shared")}
    assert bob.json("image", "show", image_id)["name"] == "shared-one"
    bob("image", "save", "--file", str(tmp_path / "bob.raw"), image_id)
    assert (tmp_path / "bob.raw").read_bytes() == data.read_bytes()

    alice("image", "delete", image_id)
    admin("token", "revoke", token["id"])
    admin("user", "delete", "rita")
    assert rita("token", "issue", ok=False).returncode != 0


def test_huge_and_missing_tokens_on_the_wire(server: Server) -> None:
    """Through uvicorn's own parser: a 64 KiB token header and no token are refused, never
    served (the exact code for an oversized header is the HTTP parser's)."""
    for headers in ({}, {"X-Auth-Token": "x" * 65536}, {"X-Auth-Token": "x" * 9000}):
        resp = httpx.get(server.url + "/v2/images", headers=headers, timeout=30)
        assert resp.status_code in (400, 401, 431), resp.status_code
        assert "images" not in resp.text
    assert httpx.get(server.url + "/v2/images", headers={"X-Auth-Token": "x" * 9000},
                     timeout=30).status_code == 401
