"""``cowshed volume …`` and ``cowshed snapshot …`` for real: the library on a temporary data
dir (file backend, real qemu-img), through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cowshed.cli.main import main

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("COWSHED_"):
            monkeypatch.delenv(key)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """``run("volume", "show", ref)`` → Result; adds --data-dir, checks the exit code."""
    data_dir = tmp_path / "data"

    def invoke(*args: str, code: int = 0) -> Result:
        argv = [*args, "--data-dir", str(data_dir)]
        result = CliRunner().invoke(main, argv, prog_name="cowshed")
        if result.exit_code != code:
            raise AssertionError(f"exit {result.exit_code} != {code} for {argv}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
                                 f"{result.exception!r}")
        return result
    return invoke


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_volume_life_through_the_cli(run: Run, tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(1 << 20))
    image = _json(run("image", "create", "--name", "src", "--file", str(disk), "--disk-format", "raw",
                      "-f", "json"))
    vol = _json(run("volume", "create", "data", "--size", "1", "--image", image["id"],
                    "--property", "tier=gold", "--no-progress", "-f", "json"))
    assert (vol["name"], vol["status"], vol["size"], vol["bootable"]) == (
        "data", "available", 1, True)
    assert vol["metadata"] == {"tier": "gold"}
    listed = _json(run("volume", "list", "-f", "json"))
    assert [v["id"] for v in listed] == [vol["id"]]
    assert run("volume", "show", "data", "-f", "value", "-c", "status").stdout.strip() \
        == "available"
    assert run("volume", "show", vol["id"][:8], "-f", "value", "-c", "name").stdout.strip() \
        == "data"

    grown = _json(run("volume", "extend", "data", "2", "--no-progress", "-f", "json"))
    assert grown["size"] == 2
    snap = _json(run("snapshot", "create", "data", "--name", "s1", "-f", "json"))
    assert (snap["status"], snap["volume_id"]) == ("available", vol["id"])
    assert [s["name"] for s in _json(run("snapshot", "list", "--volume", "data", "-f",
                                         "json"))] == ["s1"]
    from_snap = _json(run("volume", "create", "child", "--snapshot", "s1", "--no-progress",
                          "-f", "json"))
    clone = _json(run("volume", "clone", "child", "grandchild", "--no-progress", "-f",
                      "json"))
    assert (from_snap["size"], clone["size"]) == (2, 2)

    tree = _json(run("volume", "lineage", "grandchild", "-f", "json"))
    flat = json.dumps(tree)
    for obj in (vol, snap, from_snap, clone):
        assert obj["id"] in flat
    assert "grandchild" in run("volume", "lineage", "data").stdout
    rows = list(csv.DictReader(io.StringIO(run("volume", "lineage", "data", "-f", "csv",
                                               "-c", "id", "-c", "parent").stdout)))
    parents = {r["id"]: r["parent"] for r in rows}  # one row per node, linked to its parent
    assert {o["id"] for o in (vol, snap, from_snap, clone)} <= set(parents)
    assert [i for i, p in parents.items() if not p] == [rows[0]["id"]]
    assert {p for p in parents.values() if p} <= set(parents)

    uploaded = run("volume", "upload-to-image", "grandchild", "back", "--disk-format",
                   "qcow2", "--no-progress").stdout
    back = _json(run("image", "show", "back", "-f", "json"))
    assert back["status"] == "active" and back["disk_format"] == "qcow2", uploaded

    # a volume with snapshots needs --cascade; parents may go before their children
    refused = run("volume", "delete", "data", code=1)
    assert "snapshot" in refused.stderr
    run("snapshot", "delete", "s1")
    run("volume", "delete", "data", "child")
    assert [v["name"] for v in _json(run("volume", "list", "-f", "json"))] == ["grandchild"]
    run("volume", "delete", "grandchild")
    assert _json(run("volume", "list", "-f", "json")) == []


def test_unknown_and_ambiguous_refs(run: Run) -> None:
    assert "nothing" in run("volume", "show", "nothing", code=1).stderr
    run("volume", "create", "twin", "--size", "1", "--no-progress")
    run("volume", "create", "twin", "--size", "1", "--no-progress")
    ambiguous = run("volume", "show", "twin", code=1)
    assert "twin" in ambiguous.stderr
    missing = run("snapshot", "show", "nothing", code=1)
    assert "nothing" in missing.stderr
