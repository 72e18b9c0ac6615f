"""The one auth middleware under noauth: request ids, the admin context, and the noauth fence."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
from click.testing import CliRunner

from cowshed.api.app import create_app
from cowshed.api.auth import MAX_TOKEN, is_public
from cowshed.cli.main import main
from cowshed.config import Settings
from cowshed.errors import ConfigError
from cowshed.services.identity.auth import check_listen, is_loopback
from tests.api.helpers import TestClient

REQ_ID = re.compile(r"^req-[0-9a-f-]{36}$")


def test_every_response_has_a_request_id(client: TestClient) -> None:
    seen = set()
    for path in ("/versions", "/v2/images", "/v2/images/nope", "/v2/nothing"):
        rid = client.get(path).headers["x-openstack-request-id"]
        assert REQ_ID.match(rid)
        seen.add(rid)
    assert len(seen) == 4


def test_noauth_runs_as_admin_of_default_owner(settings: Settings) -> None:
    noauth = dataclasses.replace(settings, auth_strategy="noauth")
    with TestClient(create_app(noauth)) as client:
        # any token, a long one, or none at all: noauth does not read it
        for headers in ({}, {"X-Auth-Token": "whatever"}, {"X-Auth-Token": "x" * 100}):
            resp = client.post("/v2/images", json={"name": "n"}, headers=headers)
            assert resp.status_code == 201
            assert resp.json()["owner"] == "admin"


@pytest.mark.parametrize(("method", "path", "public"), [
    ("GET", "/", True), ("GET", "/versions", True), ("GET", "/v2", True), ("GET", "/v2/", True),
    ("GET", "/image/versions", True), ("GET", "/image/v2/", True), ("HEAD", "/", True),
    ("GET", "/volume/", True), ("GET", "/identity", True), ("GET", "/identity/v3/", True),
    ("POST", "/identity/v3/auth/tokens", True), ("GET", "/identity/v3/auth/tokens", False),
    ("POST", "/versions", False), ("GET", "/v2/images", False), ("GET", "/v2/schemas/image", False),
    ("GET", "/identity/v3/users", False), ("GET", "/v2/images/x/file", False),
    ("GET", "//versions", False), ("GET", "/v2/versions", False),
    ("GET", "/dashboard/", True), ("GET", "/dashboard/static/app.js", True),
    ("GET", "/dashboard/stores.json", False), ("POST", "/dashboard/", False),
])
def test_public_paths(method: str, path: str, public: bool) -> None:
    assert is_public(method, path) is public


def test_max_token_is_far_above_real_tokens() -> None:
    assert MAX_TOKEN >= 4096


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.0.2.7", False),
    ("no-such-host.invalid", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_noauth_refuses_remote_addresses(settings: Settings,
                                         caplog: pytest.LogCaptureFixture) -> None:
    settings = dataclasses.replace(settings, auth_strategy="noauth")
    with pytest.raises(ConfigError, match="not a loopback address"):
        check_listen(settings, "0.0.0.0")
    with caplog.at_level(logging.WARNING):
        check_listen(dataclasses.replace(settings, allow_remote_noauth=True), "0.0.0.0")
        check_listen(settings, "127.0.0.1")
    assert caplog.text.count("NO AUTHENTICATION") == 2


def test_serve_refuses_noauth_on_all_interfaces(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(settings.data_dir),
                                       "--host", "0.0.0.0", "--port", "1",
                                       "--auth-strategy", "noauth"])
    assert result.exit_code == 1
    assert "not a loopback address" in result.output
