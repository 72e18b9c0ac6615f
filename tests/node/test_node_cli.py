"""``cowshed node --config F …``: the interface outside checks drive, with ``-f json``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cowshed.cli.main import main
from tests.integration._server import COWSHED, Server
from tests.node.helpers import MiB, make_raw, upload_image, write_node_config


@pytest.fixture
def config(node_dir: Path, image_server: Server) -> Path:
    return write_node_config(node_dir / "node.toml", image_service_url=image_server.url,
                             instances_path=str(node_dir / "instances"),
                             disk_cachemodes=["file=writeback"], volume_clear="zero")


def node_json(config: Path, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["node", "--config", str(config), *args, "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_every_command_gives_one_json_object(config: Path, image_server: Server) -> None:
    with image_server.client() as client:
        image = upload_image(client, make_raw(4 * MiB, {0: 7}), "raw")
    plan = node_json(config, "spawn", "vm1", "--image", image, "--swap-mb", "8", "--plan")
    assert plan["plan"] is True and plan["download_bytes"] == 4 * MiB
    spawned = node_json(config, "spawn", "vm1", "--image", image, "--swap-mb", "8",
                        "--root-gb", "1")
    assert spawned["instance"] == "vm1" and len(spawned["disks"]) == 2  # type: ignore[arg-type]
    xml = node_json(config, "disk-xml", "vm1")["xml"]
    assert isinstance(xml, str) and xml.startswith('<disk type="file"')
    value = CliRunner().invoke(main, ["node", "--config", str(config), "disk-xml", "vm1",
                                      "-f", "value", "-c", "xml"])
    assert value.exit_code == 0 and value.stdout.strip() == xml.strip()
    listed = node_json(config, "cache-list")["entries"]
    assert {e["kind"] for e in listed} == {"original", "swap"}  # type: ignore[union-attr]
    cleaned = node_json(config, "cache-clean")
    assert sorted(cleaned["in_use"]) == sorted(e["name"] for e in listed)  # type: ignore[union-attr]
    deleted = node_json(config, "delete", "vm1")
    assert deleted["instance"] == "vm1" and deleted["verified"] is True


def test_the_real_command_line(config: Path, image_server: Server) -> None:
    """The installed ``cowshed`` script, exactly as an operator types it."""
    with image_server.client() as client:
        image = upload_image(client, make_raw(2 * MiB, {}), "raw")
    out = subprocess.run([str(COWSHED), "node", "--config", str(config), "spawn", "vm2",
                          "--image", image, "-f", "json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["disks"][0]["path"].endswith("/vm2/disk")
    xml = subprocess.run([str(COWSHED), "node", "--config", str(config), "disk-xml", "vm2"],
                         capture_output=True, text=True, check=True).stdout
    assert xml.count("<disk ") == 1 and 'cache="writeback"' in xml


def test_errors_are_one_line_with_status_1(config: Path) -> None:
    result = CliRunner().invoke(main, ["node", "--config", str(config), "disk-xml", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: instance nope not found")
    bad = write_node_config(config.with_name("bad.toml"), images_type="floppy")
    result = CliRunner().invoke(main, ["node", "--config", str(bad), "cache-list"])
    assert result.exit_code == 1 and "images_type must be one of" in result.output
