"""Every ``cowshed image`` command, through both doors: the library on a data dir, and a running
``cowshed serve`` over HTTP (``--os-image-url``). The same test runs twice and must see the same
records; the library door runs in-process (CliRunner), the HTTP door drives a real server.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from cowshed.cli.main import main
from tests.integration._server import COWSHED, Server

MiB = 1 << 20
STORES = ('default_backend = "fast"\n'
          '[stores.fast]\ntype = "file"\nweight = 10\ndescription = "local disk"\n'
          'filesystem_store_datadir = "{root}/fast"\n'
          '[stores.slow]\ntype = "file"\nfilesystem_store_datadir = "{root}/slow"\n')


class Door:
    """``door("image", "show", x, code=0)`` → Result, through one of the two doors."""

    def __init__(self, name: str, args: list[str], data_dir: Path) -> None:
        self.name, self.args, self.data_dir = name, args, data_dir

    def __call__(self, *argv: str, code: int = 0) -> Result:
        group, *rest = argv
        full = [group, *self.args, *rest] if self.name == "http" else [*argv, *self.args]
        result = CliRunner().invoke(main, full, prog_name="cowshed")
        if result.exit_code != code:
            raise AssertionError(f"exit {result.exit_code} != {code} for {full}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
                                 f"{result.exception!r}")
        return result

    def json(self, *argv: str) -> Any:
        return json.loads(self(*argv, "-f", "json").stdout)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("COWSHED_", "OS_")):
            monkeypatch.delenv(key)


def _deployment(root: Path) -> tuple[Path, Path]:
    data_dir = root / "data"
    data_dir.mkdir(parents=True)
    config = root / "cowshed.toml"
    config.write_text(STORES.format(root=root))
    return data_dir, config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir, config = _deployment(tmp_path_factory.mktemp("http"))
    srv = Server(data_dir, config)
    srv.start(timeout=120)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(params=["library", "http"])
def door(request: pytest.FixtureRequest, tmp_path: Path) -> Door:
    if request.param == "http":
        srv: Server = request.getfixturevalue("server")
        return Door("http", ["--os-image-url", srv.url], srv.data_dir)
    data_dir, config = _deployment(tmp_path)
    return Door("library", ["--data-dir", str(data_dir), "--config", str(config)], data_dir)


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "disk.raw"
    path.write_bytes(os.urandom(MiB + 123))
    return path


def create(door: Door, name: str, *extra: str) -> dict[str, Any]:
    made: dict[str, Any] = door.json("image", "create", "--name", name, "--no-progress", *extra)
    return made


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


def test_output_formats_and_columns(door: Door) -> None:
    name = unique("fmt")
    made = create(door, name, "--property", "os_distro=cirros", "--tag", "b", "--tag", "a")
    assert made["tags"] == ["a", "b"]
    assert made["properties"]["os_distro"] == "cirros"
    shown = door.json("image", "show", made["id"])
    assert {k: v for k, v in shown.items() if k != "updated_at"} == \
        {k: v for k, v in made.items() if k != "updated_at"}
    value = door("image", "show", name, "-f", "value", "-c", "id", "-c", "status").stdout
    assert value.splitlines() == [made["id"], "queued"]
    text = door("image", "show", made["id"], "-f", "yaml", "-c", "name", "-c", "tags").stdout
    assert yaml.safe_load(text) == {"name": name, "tags": ["a", "b"]}
    rows = list(csv.DictReader(io.StringIO(
        door("image", "list", "--name", name, "-f", "csv", "-c", "id", "-c", "name").stdout)))
    assert rows == [{"id": made["id"], "name": name}]
    table = door("image", "list", "--name", name, "--long").stdout
    assert "os_distro" not in table and made["id"] in table and "a, b" in table
    bad = door("image", "show", made["id"], "-c", "colour", code=2)
    assert "No such column: colour" in bad.stderr


def test_addressing_by_name_and_prefix(door: Door) -> None:
    name = unique("addr")
    made = create(door, name)
    assert door.json("image", "show", name)["id"] == made["id"]
    assert door.json("image", "show", made["id"][:13])["id"] == made["id"]
    twin = create(door, name)
    ambiguous = door("image", "show", name, code=1)
    assert f"2 images are named {name!r}" in ambiguous.stderr
    assert made["id"] in ambiguous.stderr and twin["id"] in ambiguous.stderr
    missing = door("image", "show", "no-such-image", code=1)
    assert "No image found with ID, name or ID prefix no-such-image" in missing.stderr


def test_set_unset_tags_and_activation(door: Door, payload: Path) -> None:
    made = create(door, unique("set"), "--file", str(payload))
    changed = door.json("image", "set", made["id"], "--name", made["name"] + "-x",
                        "--min-disk", "2", "--min-ram", "64", "--visibility", "private",
                        "--protected", "--hidden", "--property", "os_distro=cirros",
                        "--property", "hw_disk_bus=virtio", "--tag", "new")
    assert (changed["name"], changed["min_disk"], changed["min_ram"]) == \
        (made["name"] + "-x", 2, 64)
    assert (changed["visibility"], changed["protected"], changed["os_hidden"]) == \
        ("private", True, True)
    assert changed["properties"]["hw_disk_bus"] == "virtio"
    assert changed["tags"] == ["new"]
    refused = door("image", "delete", made["id"], code=1)
    assert "protected" in refused.stderr.lower()
    door("image", "tag", "add", made["id"], "t1", "t2")
    door("image", "tag", "remove", made["id"], "new")
    after = door.json("image", "unset", made["id"], "--property", "os_distro", "--tag", "t1")
    assert "os_distro" not in after["properties"] and after["tags"] == ["t2"]
    door("image", "deactivate", made["id"])
    assert door.json("image", "show", made["id"])["status"] == "deactivated"
    door("image", "reactivate", made["id"])
    assert door.json("image", "show", made["id"])["status"] == "active"
    door("image", "set", made["id"], "--unprotected")
    assert door("image", "delete", made["id"]).stdout == f"Deleted {made['id']}\n"


def test_stage_import_copy_and_tasks(door: Door, payload: Path) -> None:
    made = create(door, unique("imp"))
    door("image", "stage", made["id"], str(payload), "--no-progress")
    assert door.json("image", "show", made["id"])["status"] == "uploading"
    imported = door.json("image", "import", made["id"], "--method", "glance-direct")
    assert imported["status"] == "active"
    assert imported["stores"] == ["fast"]
    assert imported["checksum"] == hashlib.md5(payload.read_bytes()).hexdigest()
    copied = door.json("image", "import", made["id"], "--method", "copy-image",
                       "--store", "slow")
    assert sorted(copied["stores"]) == ["fast", "slow"]
    tasks = door.json("image", "task", "list", made["id"])
    assert sorted(t["status"] for t in tasks) == ["success", "success"]
    everything = [t["id"] for t in door.json("image", "task", "list")]
    assert {t["id"] for t in tasks} <= set(everything)
    task = door.json("image", "task", "show", tasks[0]["id"])
    assert task["image_id"] == made["id"] and task["type"] == "api_image_import"
    stores = door.json("image", "stores")
    assert [(s["id"], s["default"]) for s in stores] == [("fast", True), ("slow", False)]
    usage = door("image", "import", made["id"], "--method", "web-download", code=2)
    assert "--uri goes with --method web-download" in usage.stderr


def test_download_keeps_files_sparse_safe_and_resumable(door: Door, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.raw"
    with sparse.open("wb") as fh:
        fh.truncate(32 * MiB)
        fh.seek(16 * MiB)
        fh.write(os.urandom(MiB))
    made = create(door, unique("dl"), "--file", str(sparse))
    out = tmp_path / "out.raw"
    door("image", "download", made["id"], "--file", str(out), "--no-progress")
    assert out.read_bytes() == sparse.read_bytes()
    assert out.stat().st_blocks * 512 <= 4 * MiB, "the download is not sparse"
    again = door("image", "download", made["id"], "--file", str(out), code=1)
    assert f"{out} exists; pass --force to overwrite it" in again.stderr
    out.write_bytes(b"old")
    door("image", "download", made["id"], "--file", str(out), "--force", "--no-progress")
    assert out.read_bytes() == sparse.read_bytes()
    # an interrupted download left the first 20 MiB: --resume fetches only the rest
    resumed = tmp_path / "resumed.raw"
    resumed.with_name("resumed.raw.part").write_bytes(sparse.read_bytes()[:20 * MiB])
    done = door("image", "download", made["id"], "--file", str(resumed), "--resume",
                "--no-progress")
    assert "resumed at 20.0 MiB" in done.stderr
    assert resumed.read_bytes() == sparse.read_bytes()
    # a part that does not belong to the image is caught by the checks and dropped
    bad = tmp_path / "bad.raw"
    bad.with_name("bad.raw.part").write_bytes(b"\1" * MiB)
    refused = door("image", "download", made["id"], "--file", str(bad), "--resume", code=1)
    assert "does not match the recorded checksum" in refused.stderr
    assert not bad.exists() and not bad.with_name("bad.raw.part").exists()


def test_the_two_doors_see_the_same_record(server: Server, payload: Path) -> None:
    http = Door("http", ["--os-image-url", server.url + "/v2"], server.data_dir)
    made = create(http, unique("same"), "--file", str(payload), "--property", "k=v")
    local = Door("library", ["--data-dir", str(server.data_dir), "--config",
                             str(server.config)], server.data_dir)
    assert local.json("image", "show", made["id"]) == http.json("image", "show", made["id"])
    refused = local("image", "delete", made["id"], code=1)
    assert f"go through its API at http://127.0.0.1:{server.port}" in refused.stderr


def test_remote_errors_are_one_line(tmp_path: Path, server: Server) -> None:
    gone = Door("http", ["--os-image-url", "http://127.0.0.1:9"], tmp_path)
    result = gone("image", "list", code=1)
    assert result.stderr.startswith("Error: cannot reach the image API at http://127.0.0.1:9")
    assert len(result.stderr.strip().splitlines()) == 1
    both = gone("image", "list", "--data-dir", str(tmp_path), code=2)
    assert "give one or the other" in both.stderr
    env_result = CliRunner().invoke(main, ["image", "list", "-f", "json"],
                                    env={"OS_ENDPOINT": server.url})
    assert env_result.exit_code == 0, env_result.output
    assert isinstance(json.loads(env_result.stdout), list)


def test_download_to_a_pipe_that_closes_early(server: Server, tmp_path: Path) -> None:
    data = os.urandom(24 * MiB)
    source = tmp_path / "big.raw"
    source.write_bytes(data)
    made = create(Door("http", ["--os-image-url", server.url], server.data_dir),
                  unique("pipe"), "--file", str(source))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COWSHED_", "OS_"))}
    cmd = f"{COWSHED} image --os-image-url {server.url} download {made['id']} --file -"
    full = subprocess.run(["bash", "-c", f"{cmd} | sha512sum"], capture_output=True,
                          text=True, timeout=300, env=env, check=False)
    assert full.stdout.split()[0] == hashlib.sha512(data).hexdigest(), full.stderr
    early = subprocess.run(["bash", "-c", f"{cmd} | head -c 1000 | wc -c; "
                            "echo status=${PIPESTATUS[0]}"], capture_output=True, text=True,
                           timeout=300, env=env, check=False)
    assert early.stdout.split() == ["1000", "status=141"]
    assert early.stderr == ""



def test_members(door: Door) -> None:
    made = create(door, unique("shared"), "--visibility", "shared")
    project = "5f1c0c9d4e7a4a0c8e1f2b3c4d5e6f70"
    added = door.json("image", "member", "add", made["id"], project)
    assert (added["member_id"], added["status"]) == (project, "pending")
    accepted = door.json("image", "member", "set", made["name"], project, "--status",
                         "accepted")
    assert accepted["status"] == "accepted"
    listed = door("image", "member", "list", made["id"], "-f", "value", "-c", "member_id",
                  "-c", "status").stdout
    assert listed.splitlines() == [f"{project} accepted"]
    door("image", "member", "remove", made["id"], project)
    assert door.json("image", "member", "list", made["id"]) == []
