"""The ``glance`` CLI (python-glanceclient's shell) against a real ``cowshed serve``."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.helpers import (
    LiveServer,
    Payload,
    assert_same_bytes,
    digest_file,
    parse_table,
    run_cli,
    tool,
)

pytestmark = pytest.mark.clients


class GlanceCli:
    """``glance --os-image-url URL --os-auth-token x ARGS…`` (no keystone involved)."""

    def __init__(self, url: str) -> None:
        self.base = [tool("glance"), "--os-image-api-version", "2", "--os-image-url", url,
                     "--os-auth-token", "x"]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli([*self.base, *args], ok=ok)

    def table(self, *args: str) -> dict[str, str]:
        """The Property/Value table the command printed."""
        return parse_table(self.run(*args).stdout)


@pytest.fixture
def glance(live_server: LiveServer) -> GlanceCli:
    return GlanceCli(live_server.url)


@pytest.fixture
def cli_image(glance: GlanceCli, small_payload: Payload) -> str:
    name = f"glance-cli-{uuid.uuid4().hex[:8]}"
    table = glance.table("image-create", "--name", name, "--disk-format", "raw",
                         "--container-format", "bare", "--file", str(small_payload.path))
    assert table["status"] == "active"
    return table["id"]


def _api(live_server: LiveServer, image_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{live_server.url}/v2/images/{image_id}")
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def test_create_with_file_records_size_and_both_hashes(
    glance: GlanceCli, small_payload: Payload, live_server: LiveServer,
) -> None:
    name = f"glance-cli-{uuid.uuid4().hex[:8]}"
    table = glance.table("image-create", "--name", name, "--disk-format", "raw",
                         "--container-format", "bare", "--file", str(small_payload.path),
                         "--property", "os_distro=cirros")
    assert table["name"] == name
    assert table["status"] == "active"
    assert table["size"] == str(small_payload.size)
    assert table["checksum"] == small_payload.md5
    assert table["os_hash_algo"] == "sha512"
    assert table["os_hash_value"] == small_payload.sha512
    assert table["os_distro"] == "cirros"
    assert _api(live_server, table["id"])["os_hash_value"] == small_payload.sha512


def test_list_and_show(glance: GlanceCli, cli_image: str) -> None:
    listed = glance.run("image-list", "--page-size", "2").stdout
    assert cli_image in listed
    shown = glance.table("image-show", cli_image)
    assert shown["id"] == cli_image
    assert shown["status"] == "active"
    assert shown["disk_format"] == "raw"


def test_list_filters_by_tag(glance: GlanceCli, cli_image: str) -> None:
    tag = uuid.uuid4().hex
    glance.run("image-tag-update", cli_image, tag)
    listed = glance.run("image-list", "--tag", tag).stdout
    assert cli_image in listed
    assert cli_image not in glance.run("image-list", "--tag", uuid.uuid4().hex).stdout


def test_download_matches_md5_and_sha512(
    glance: GlanceCli, cli_image: str, small_payload: Payload, tmp_path: Path,
) -> None:
    out = tmp_path / "out.raw"
    glance.table("image-download", "--file", str(out), cli_image)
    assert_same_bytes(digest_file(out), small_payload)


def test_update_and_remove_properties(
    glance: GlanceCli, cli_image: str, live_server: LiveServer,
) -> None:
    table = glance.table("image-update", "--property", "hw_disk_bus=virtio", "--property",
                   "os_type=linux", "--min-ram", "512", cli_image)
    assert (table["hw_disk_bus"], table["os_type"], table["min_ram"]) == ("virtio", "linux", "512")
    table = glance.table("image-update", "--property", "hw_disk_bus=scsi", "--remove-property",
                   "os_type", cli_image)
    assert table["hw_disk_bus"] == "scsi"
    assert "os_type" not in table
    record = _api(live_server, cli_image)
    assert record["hw_disk_bus"] == "scsi"
    assert "os_type" not in record


def test_tags(glance: GlanceCli, cli_image: str, live_server: LiveServer) -> None:
    glance.run("image-tag-update", cli_image, "blue")
    glance.run("image-tag-update", cli_image, "green")
    assert sorted(_api(live_server, cli_image)["tags"]) == ["blue", "green"]
    glance.run("image-tag-delete", cli_image, "blue")
    assert _api(live_server, cli_image)["tags"] == ["green"]


def test_deactivate_and_reactivate(glance: GlanceCli, cli_image: str) -> None:
    glance.table("image-deactivate", cli_image)
    assert glance.table("image-show", cli_image)["status"] == "deactivated"
    glance.table("image-reactivate", cli_image)
    assert glance.table("image-show", cli_image)["status"] == "active"


def test_protected_image_cannot_be_deleted(glance: GlanceCli, cli_image: str) -> None:
    assert glance.table("image-update", "--protected", "True", cli_image)["protected"] == "True"
    refused = glance.run("image-delete", cli_image, ok=False)
    assert refused.returncode != 0
    assert "not permitted" in refused.stderr
    assert glance.table("image-show", cli_image)["status"] == "active"
    glance.table("image-update", "--protected", "False", cli_image)
    glance.table("image-delete", cli_image)


def test_delete(glance: GlanceCli, cli_image: str, live_server: LiveServer) -> None:
    glance.table("image-delete", cli_image)
    assert httpx.get(f"{live_server.url}/v2/images/{cli_image}").status_code == 404
    assert not live_server.stored_file(cli_image).exists()
    gone = glance.run("image-show", cli_image, ok=False)
    assert gone.returncode != 0
    assert "No image found" in gone.stderr
