"""The ``keystone`` strategy against a real Keystone from PyPI (tests/_openstack): SQLite,
fernet tokens, a service user as Glance uses one. Tokens come from that Keystone; cowshed
validates them, caches validations, and still refuses a revoked token at the next request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._openstack.keystone import SERVICE_PASSWORD, Keystone
from tests.integration._server import Server

pytestmark = pytest.mark.slow
OCTET = {"Content-Type": "application/octet-stream"}
#: seconds a validation is cached by the server under test.
CACHE_TIME = 4


@pytest.fixture(scope="module")
def server(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ks-strategy")
    config = root / "cowshed.toml"
    config.write_text(
        'auth_strategy = "keystone"\n[keystone_authtoken]\n'
        f'auth_url = "{keystone.url}"\nwww_authenticate_uri = "{keystone.url}"\n'
        'auth_type = "password"\nusername = "cowshed"\n'
        f'password = "{SERVICE_PASSWORD}"\nproject_name = "service"\n'
        'user_domain_name = "Default"\nproject_domain_name = "Default"\n'
        f'token_cache_time = {CACHE_TIME}\n')
    srv = Server(root / "data", config=config)
    srv.start(timeout=90)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def people(keystone: Keystone) -> dict[str, Any]:
    """Projects ks-alpha and ks-beta; alice (member of alpha), rita (reader of alpha), bob
    (member of beta)."""
    out: dict[str, Any] = {}
    for name in ("ks-alpha", "ks-beta"):
        out[name] = keystone.api("POST", "/projects", {"project": {
            "name": name, "domain_id": "default"}})["project"]["id"]
    for user, project, role in (("ks-alice", "ks-alpha", "member"),
                                ("ks-rita", "ks-alpha", "reader"),
                                ("ks-bob", "ks-beta", "member")):
        uid = keystone.api("POST", "/users", {"user": {
            "name": user, "password": f"{user}-pw", "domain_id": "default"}})["user"]["id"]
        keystone.api("PUT", f"/projects/{out[project]}/users/{uid}/roles/"
                            f"{keystone.find('role', role)}")
        out[user] = uid
    return out


def token(keystone: Keystone, user: str, project: str) -> str:
    return keystone.issue_token(user, f"{user}-pw", project)


def call(server: Server, method: str, path: str, tok: str | None, **kw: Any) -> httpx.Response:
    headers = dict(kw.pop("headers", {}))
    if tok is not None:
        headers["X-Auth-Token"] = tok
    return httpx.request(method, server.url + path, headers=headers, timeout=60, **kw)


def test_projects_are_kept_apart(server: Server, keystone: Keystone, people: dict[str, Any]
                                 ) -> None:
    alice = token(keystone, "ks-alice", "ks-alpha")
    created = call(server, "POST", "/v2/images", alice, json={
        "name": "ks-img", "disk_format": "raw", "container_format": "bare",
        "visibility": "private"})
    assert created.status_code == 201, created.text
    image = created.json()
    assert image["owner"] == people["ks-alpha"]
    assert call(server, "PUT", f"/v2/images/{image['id']}/file", alice, content=b"k" * 4096,
                headers=OCTET).status_code == 204
    bob = token(keystone, "ks-bob", "ks-beta")
    assert call(server, "GET", f"/v2/images/{image['id']}", bob).status_code == 404
    assert image["id"] not in call(server, "GET", "/v2/images", bob).text
    rita = token(keystone, "ks-rita", "ks-alpha")
    assert call(server, "GET", f"/v2/images/{image['id']}", rita).status_code == 200
    assert call(server, "GET", f"/v2/images/{image['id']}/file", rita).status_code == 403
    assert call(server, "DELETE", f"/v2/images/{image['id']}", rita).status_code == 403
    admin = keystone.token()
    assert call(server, "GET", f"/v2/images/{image['id']}/file", admin).content == b"k" * 4096
    # sharing across Keystone projects
    base = f"/v2/images/{image['id']}/members"
    assert call(server, "PATCH", f"/v2/images/{image['id']}", alice, json=[
        {"op": "replace", "path": "/visibility", "value": "shared"}], headers={
        "Content-Type": "application/openstack-images-v2.1-json-patch"}).status_code == 200
    assert call(server, "POST", base, alice, json={"member": people["ks-beta"]}
                ).status_code == 200
    assert call(server, "PUT", f"{base}/{people['ks-beta']}", bob,
                json={"status": "accepted"}).status_code == 200
    assert image["id"] in call(server, "GET", "/v2/images", bob).text


def test_bad_tokens_are_401_pointing_at_keystone(server: Server, keystone: Keystone) -> None:
    for tok in (None, "", "garbage", "gAAAAA" + "x" * 180, keystone.token()[:-8] + "AAAAAAAA"):
        resp = call(server, "GET", "/v2/images", tok)
        assert resp.status_code == 401, (tok, resp.text)
        assert resp.headers["www-authenticate"] == f'Keystone uri="{keystone.url}"'


def test_revocations_apply_at_once(server: Server, keystone: Keystone,
                                   people: dict[str, Any]) -> None:
    """Revoking a token and disabling a user reach cowshed as Keystone revocation events, so a
    cached validation is dropped at the next request."""
    alice = token(keystone, "ks-alice", "ks-alpha")
    for _ in range(3):  # the second and third use come from the cache
        assert call(server, "GET", "/v2/images", alice).status_code == 200
    resp = httpx.delete(keystone.url + "/auth/tokens", timeout=30, headers={
        "X-Auth-Token": keystone.token(), "X-Subject-Token": alice})
    assert resp.status_code == 204
    assert call(server, "GET", "/v2/images", alice).status_code == 401
    bob = token(keystone, "ks-bob", "ks-beta")
    assert call(server, "GET", "/v2/images", bob).status_code == 200
    keystone.api("PATCH", f"/users/{people['ks-bob']}", {"user": {"enabled": False}})
    assert call(server, "GET", "/v2/images", bob).status_code == 401
    keystone.api("PATCH", f"/users/{people['ks-bob']}", {"user": {"enabled": True}})


def test_role_removal_applies_within_the_cache_time(server: Server, keystone: Keystone,
                                                    people: dict[str, Any]) -> None:
    """Keystone records no revocation event for a removed role (it recomputes roles when it
    validates), so a cached validation keeps the role until token_cache_time has passed."""
    rita = token(keystone, "ks-rita", "ks-alpha")
    assert call(server, "GET", "/v2/images", rita).status_code == 200
    keystone.api("DELETE", f"/projects/{people['ks-alpha']}/users/{people['ks-rita']}/roles/"
                           f"{keystone.find('role', 'reader')}")
    time.sleep(CACHE_TIME + 1)
    assert call(server, "GET", "/v2/images", rita).status_code == 401


def test_keystone_strategy_has_no_standalone_identity(server: Server) -> None:
    assert httpx.get(server.url + "/identity/v3", timeout=30).status_code in (401, 404)


def test_config_errors(tmp_path: Path) -> None:
    from cowshed.config import load_settings
    from cowshed.errors import ConfigError

    with pytest.raises(ConfigError, match="needs \\[keystone_authtoken\\] auth_url"):
        load_settings(data_dir=tmp_path, environ={"COWSHED_AUTH_STRATEGY": "keystone"})
    with pytest.raises(ConfigError, match="unknown \\[keystone_authtoken\\] option"):
        load_settings(data_dir=tmp_path, environ={}, config_file=_toml(tmp_path, "nope = 1"))
    settings = load_settings(data_dir=tmp_path, environ={
        "COWSHED_AUTH_STRATEGY": "keystone", "COWSHED_KEYSTONE_AUTHTOKEN_PASSWORD": "env-pw"},
        config_file=_toml(tmp_path, 'auth_url = "http://ks:5000"\nusername = "u"\n'
                                    'project_name = "service"'))
    assert settings.keystone_authtoken.password == "env-pw"
    assert settings.keystone_authtoken.v3_url == "http://ks:5000/v3"


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f"[keystone_authtoken]\n{body}\n")
    return path
