"""``cowshed image`` over HTTP with the openstack CLI's Keystone variables (an openrc), against
a real server running cowshed's standalone identity."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from cowshed.cli.main import main
from tests.integration._server import Server

PASSWORD = "first-hour-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("keystone")
    config = root / "cowshed.toml"
    config.write_text(f'auth_strategy = "standalone"\nadmin_password = "{PASSWORD}"\n')
    srv = Server(root / "data", config)
    srv.start(timeout=120)
    try:
        yield srv
    finally:
        srv.kill()


def openrc(server: Server, **changes: str) -> dict[str, str]:
    env = {"OS_AUTH_URL": f"{server.url}/identity", "OS_USERNAME": "admin",
           "OS_PASSWORD": PASSWORD, "OS_PROJECT_NAME": "admin",
           "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}
    env.update(changes)
    return env


def run(env: dict[str, str], *argv: str, code: int = 0) -> Result:
    clean = {k: None for k in os.environ if k.startswith(("OS_", "COWSHED_"))}
    result = CliRunner().invoke(main, list(argv), env={**clean, **env}, prog_name="cowshed")
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def test_an_openrc_drives_the_server(server: Server, tmp_path: Path) -> None:
    env = openrc(server)
    made = json.loads(run(env, "image", "create", "--name", "via-keystone", "-f", "json").stdout)
    listed = json.loads(run(env, "image", "list", "-f", "json").stdout)
    assert made["id"] in [i["id"] for i in listed]
    with httpx.Client(base_url=server.url) as http:  # the server saw an authenticated admin
        assert http.get(f"/v2/images/{made['id']}").status_code == 401


def test_a_token_with_the_auth_url(server: Server) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    token = httpx.post(f"{server.url}/identity/v3/auth/tokens", json=body).headers[
        "X-Subject-Token"]
    env = {"OS_AUTH_URL": f"{server.url}/identity", "OS_TOKEN": token}
    assert run(env, "image", "list", "-f", "value", "-c", "id").exit_code == 0


def test_refusals_are_one_line(server: Server) -> None:
    wrong = run(openrc(server, OS_PASSWORD="nope"), "image", "list", code=1)
    assert wrong.stderr.startswith("Error: the identity service at ")
    assert "refused the credentials" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    anonymous = run({"OS_IMAGE_URL": server.url}, "image", "list", code=1)
    assert anonymous.stderr.startswith("Error: ")
    assert len(anonymous.stderr.strip().splitlines()) == 1
