"""The ``openstack`` CLI (python-openstackclient) against a real ``cowshed serve``.

No keystone: ``--os-auth-type none --os-endpoint URL`` (or the same as ``OS_AUTH_TYPE`` /
``OS_ENDPOINT``). One image goes through create → list → show → save → set/unset → delete;
each step is a separate process, as an operator would type it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.helpers import (
    LiveServer,
    Payload,
    assert_same_bytes,
    client_env,
    digest_file,
    run_cli,
    tool,
)

pytestmark = pytest.mark.clients


class Osc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.exe = tool("openstack")

    def __call__(self, *args: str) -> str:
        argv = [self.exe, "--os-auth-type", "none", "--os-endpoint", self.url, *args]
        return run_cli(argv).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-f", "json"))

    def with_env(self, *args: str) -> str:
        """The same, configured through OS_* environment variables instead of options."""
        env = client_env() | {"OS_AUTH_TYPE": "none", "OS_ENDPOINT": self.url}
        return run_cli([self.exe, *args], env=env).stdout


def _record(live_server: LiveServer, image_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{live_server.url}/v2/images/{image_id}")
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def test_image_lifecycle(live_server: LiveServer, small_payload: Payload, tmp_path: Path) -> None:
    osc = Osc(live_server.url)
    name = f"osc-{uuid.uuid4().hex[:10]}"

    created = osc.json("image", "create", "--file", str(small_payload.path), "--disk-format",
                       "raw", "--container-format", "bare", "--property", "os_distro=alpine",
                       "--property", "colour=red", name)
    image_id = created["id"]
    assert created["status"] == "active"
    assert created["size"] == small_payload.size
    assert created["checksum"] == small_payload.md5
    assert created["properties"]["os_hash_value"] == small_payload.sha512

    listed = osc.json("image", "list", "--name", name)
    assert [(row["ID"], row["Name"], row["Status"]) for row in listed] \
        == [(image_id, name, "active")]

    shown = json.loads(osc.with_env("image", "show", name, "-f", "json"))
    assert shown["id"] == image_id
    assert shown["properties"]["os_distro"] == "alpine"

    out = tmp_path / "saved.raw"
    osc("image", "save", "--file", str(out), image_id)
    assert_same_bytes(digest_file(out), small_payload)

    osc("image", "set", "--property", "colour=blue", "--property", "hw_disk_bus=scsi",
        "--tag", "gold", "--min-ram", "128", image_id)
    osc("image", "unset", "--property", "os_distro", image_id)
    record = _record(live_server, image_id)
    assert (record["colour"], record["hw_disk_bus"], record["min_ram"]) == ("blue", "scsi", 128)
    assert record["tags"] == ["gold"]
    assert "os_distro" not in record

    osc("image", "delete", image_id)
    assert httpx.get(f"{live_server.url}/v2/images/{image_id}").status_code == 404
    assert not live_server.stored_file(image_id).exists()
