"""Real block-storage clients find and negotiate with cowshed's volume API: version discovery,
microversions and the read-only resources (types), through both URL forms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.clients.helpers import LiveServer, run_cli, tool

pytestmark = pytest.mark.clients
PROJECT = "c0ffee00d00d4a11b0b5a0e0f0c0d0e0"


def test_cinderclient_negotiates_the_newest_version(live_server: LiveServer) -> None:
    from cinderclient import api_versions
    from cinderclient import client as cinder_client
    from cinderclient.contrib import noauth
    from keystoneauth1 import session

    auth = noauth.CinderNoAuthPlugin("tester", PROJECT, endpoint=live_server.url + "/volume/v3")
    cinder: Any = cinder_client.Client("3.0", session=session.Session(auth=auth))
    (server,) = cinder.services.server_api_version()
    assert (server.min_version, server.version) == ("3.0", "3.71")
    chosen = api_versions.discover_version(cinder, api_versions.APIVersion("3.71"))
    assert chosen.get_string() == "3.71"
    names = [t.name for t in cinder.volume_types.list()]
    assert names == ["file"]


def test_cinder_cli_type_list_and_default(live_server: LiveServer) -> None:
    base = [tool("cinder"), "--os-auth-type", "noauth", "--os-user-id", "u",
            "--os-project-id", PROJECT, "--os-endpoint", live_server.url + "/volume/v3"]
    assert "| file |" in run_cli([*base, "type-list"]).stdout.replace("  ", " ")
    out = run_cli([*base, "--os-volume-api-version", "3.62", "type-default"]).stdout
    assert "file" in out


def test_openstack_cli_projectless_endpoint(live_server: LiveServer) -> None:
    out = run_cli([tool("openstack"), "--os-auth-type", "none", "--os-endpoint",
                   live_server.url + "/volume/v3", "volume", "type", "list", "-f", "json"]).stdout
    assert [t["Name"] for t in json.loads(out)] == ["file"]


def test_openstacksdk_block_storage(live_server: LiveServer) -> None:
    import openstack

    conn = openstack.connect(
        auth_type="none",
        block_storage_endpoint_override=f"{live_server.url}/volume/v3/{PROJECT}")
    assert conn.block_storage.get_api_major_version()[0] == 3
    assert [t.name for t in conn.block_storage.types()] == ["file"]
