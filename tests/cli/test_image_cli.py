"""``cowshed image …`` for real: the library on a temporary data dir, through click's CliRunner."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cowshed.cli.common import human_size
from cowshed.cli.image_manage import image  # the whole group (images.py + image_manage.py)
from cowshed.cli.main import main

#: crosses the 8 MiB block size of the upload and download paths.
PAYLOAD = os.urandom((9 << 20) + 123)

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # a developer's COWSHED_* settings must not leak into the commands under test.
    for key in list(os.environ):
        if key.startswith("COWSHED_"):
            monkeypatch.delenv(key)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    path = tmp_path / "disk.raw"
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def run(data_dir: Path) -> Run:
    """``run("image", "show", id)`` → Result; adds --data-dir, checks the exit code."""

    def invoke(*args: str, code: int = 0, data: bool = True) -> Result:
        argv = [*args, "--data-dir", str(data_dir)] if data else list(args)
        result = CliRunner().invoke(main, argv, prog_name="cowshed")
        if result.exit_code != code:
            raise AssertionError(
                f"exit {result.exit_code} != {code} for {argv}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def create(run: Run, *extra: str, name: str = "cirros") -> dict[str, Any]:
    made: dict[str, Any] = as_json(run("image", "create", "--name", name, "--format", "json",
                                        *extra))
    return made


@pytest.fixture
def active(run: Run, payload_file: Path) -> dict[str, Any]:
    return create(run, "--file", str(payload_file), "--no-progress")


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a crash
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.output


# -- create, upload ---------------------------------------------------------------------------


def test_create_with_file_uploads_and_hashes(active: dict[str, Any]) -> None:
    assert active["status"] == "active"
    assert active["size"] == len(PAYLOAD)
    assert active["checksum"] == hashlib.md5(PAYLOAD).hexdigest()
    assert active["os_hash_algo"] == "sha512"
    assert active["os_hash_value"] == hashlib.sha512(PAYLOAD).hexdigest()
    assert active["stores"] == ["file"]
    assert (active["disk_format"], active["container_format"]) == ("raw", "bare")


def test_create_sets_attributes_properties_and_tags(run: Run) -> None:
    made = create(run, "--disk-format", "qcow2", "--container-format", "ovf",
                  "--property", "os_distro=cirros", "--property", "hw_qemu_guest_agent=yes",
                  "--tag", "small", "--tag", "test", "--visibility", "private", "--protected",
                  "--min-disk", "2", "--min-ram", "128")
    shown = as_json(run("image", "show", made["id"], "--format", "json"))
    assert shown == made
    assert made["status"] == "queued"
    assert made["size"] is None
    assert made["properties"] == {"os_distro": "cirros", "hw_qemu_guest_agent": "yes"}
    assert made["tags"] == ["small", "test"]
    assert (made["visibility"], made["protected"]) == ("private", True)
    assert (made["min_disk"], made["min_ram"]) == (2, 128)
    assert (made["disk_format"], made["container_format"]) == ("qcow2", "ovf")


def test_upload_into_a_queued_image(run: Run, payload_file: Path) -> None:
    made = create(run)
    result = run("image", "upload", made["id"], str(payload_file), "--format", "json")
    uploaded = json.loads(result.stdout)
    assert uploaded["status"] == "active"
    assert uploaded["checksum"] == hashlib.md5(PAYLOAD).hexdigest()
    # the progress bar goes to stderr in binary units, never into the JSON on stdout
    assert "upload disk.raw" in result.stderr
    assert "9.0/9.0 MiB" in result.stderr


def test_upload_into_an_unknown_store_leaves_the_image_queued(
    run: Run, payload_file: Path,
) -> None:
    made = create(run)
    result = run("image", "upload", made["id"], str(payload_file), "--store", "nowhere", code=1)
    assert_one_line_error(result, "Store nowhere is not available")
    assert as_json(run("image", "show", made["id"], "--format", "json"))["status"] == "queued"


def test_create_with_a_refused_file_deletes_the_image(run: Run, payload_file: Path) -> None:
    result = run("image", "create", "--name", "liar", "--disk-format", "qcow2",
                 "--file", str(payload_file), "--no-progress", code=1)
    assert_one_line_error(result, "qcow2")
    assert as_json(run("image", "list", "--format", "json")) == []


def test_create_rejects_malformed_properties(run: Run) -> None:
    result = run("image", "create", "--name", "x", "--property", "novalue", code=2)
    assert "'novalue' is not KEY=VALUE" in result.stderr
    result = run("image", "create", "--name", "x", "--property", "min_ram=5", code=2)
    assert "image attribute, not a property" in result.stderr
    assert as_json(run("image", "list", "--format", "json")) == []


# -- list, show -------------------------------------------------------------------------------


def test_list_filters_sorts_and_limits(run: Run, active: dict[str, Any]) -> None:
    for name in ("charlie", "alpha", "bravo"):
        create(run, name=name)

    def names(*args: str) -> list[str]:
        return [i["name"] for i in as_json(run("image", "list", "--format", "json", *args))]

    assert names("--sort", "name:asc") == ["alpha", "bravo", "charlie", "cirros"]
    assert names("--sort", "name:desc", "--limit", "2") == ["cirros", "charlie"]
    assert names("--name", "bravo") == ["bravo"]
    assert names("--status", "active") == ["cirros"]
    assert names("--status", "queued", "--sort", "name") == ["alpha", "bravo", "charlie"]


def test_list_pages_through_everything(run: Run, data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "small-pages.toml"
    config.write_text("api_limit_max = 2\n")
    for n in range(5):
        create(run, "--config", str(config), name=f"img{n}")
    listed = as_json(run("image", "list", "--config", str(config), "--format", "json"))
    assert sorted(i["name"] for i in listed) == [f"img{n}" for n in range(5)]
    limited = as_json(run("image", "list", "--config", str(config), "--limit", "3",
                          "--format", "json"))
    assert len(limited) == 3


def test_list_rejects_unknown_sort_keys(run: Run) -> None:
    result = run("image", "list", "--sort", "colour:asc", code=2)
    assert "unknown sort key 'colour'" in result.stderr
    result = run("image", "list", "--sort", "name:up", code=2)
    assert "asc or desc" in result.stderr


def test_tables_show_whole_ids_and_human_sizes(run: Run, active: dict[str, Any]) -> None:
    table = run("image", "list").stdout
    assert active["id"] in table
    assert "cirros" in table
    assert "9.0 MiB" in table
    shown = run("image", "show", active["id"]).stdout
    assert f"9.0 MiB ({len(PAYLOAD)} bytes)" in shown
    assert active["os_hash_value"] in shown.replace("\n", "").replace(" ", "")


def test_data_dir_from_the_environment(run: Run, data_dir: Path) -> None:
    made = create(run)
    result = CliRunner().invoke(main, ["image", "show", made["id"], "--format", "json"],
                                env={"COWSHED_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == made["id"]


# -- download -----------------------------------------------------------------------------------


def test_download_to_a_file(run: Run, active: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out.raw"
    result = run("image", "download", active["id"], "--file", str(out))
    assert out.read_bytes() == PAYLOAD
    assert not out.with_name("out.raw.part").exists()
    assert "md5 and sha512 verified" in result.stderr


def test_download_to_stdout(run: Run, active: dict[str, Any]) -> None:
    result = run("image", "download", active["id"], "--file", "-")
    assert result.stdout_bytes == PAYLOAD
    assert "━" not in result.stderr  # no progress bar when the data goes to stdout


def _flip_last_byte(stored: Path, db: Path) -> None:
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))


def _truncate(stored: Path, db: Path) -> None:
    stored.write_bytes(stored.read_bytes()[:-1])


def _wrong_sha512(stored: Path, db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE images SET os_hash_value = ?", ("0" * 128,))
    conn.close()


@pytest.mark.parametrize("damage, fragment", [
    (_flip_last_byte, "does not match the recorded checksum"),
    (_truncate, "the data of the image ended 1 bytes early"),
    (_wrong_sha512, "sha512 does not match the recorded os_hash_value"),
])
def test_download_refuses_data_that_does_not_match_the_record(
    run: Run, active: dict[str, Any], data_dir: Path, tmp_path: Path,
    damage: Callable[[Path, Path], None], fragment: str,
) -> None:
    damage(data_dir / "images" / active["id"], data_dir / "cowshed.db")
    out = tmp_path / "out.raw"
    result = run("image", "download", active["id"], "--file", str(out), "--no-progress", code=1)
    assert_one_line_error(result, fragment)
    assert not out.exists()
    assert not out.with_name("out.raw.part").exists()
    result = run("image", "download", active["id"], "--file", "-", code=1)
    assert "Error: " in result.stderr  # stdout gets the bytes, but the exit status says no


def test_download_of_an_image_without_data(run: Run, tmp_path: Path) -> None:
    made = create(run)
    result = run("image", "download", made["id"], "--file", str(tmp_path / "x"), code=1)
    assert_one_line_error(result, "has no data")


# -- delete -------------------------------------------------------------------------------------


def test_delete_removes_record_and_data(run: Run, active: dict[str, Any], data_dir: Path) -> None:
    result = run("image", "delete", active["id"])
    assert result.stdout.strip() == f"Deleted {active['id']}"
    assert not (data_dir / "images" / active["id"]).exists()
    assert_one_line_error(run("image", "show", active["id"], code=1), "No image found")


def test_delete_tries_every_id_and_reports_each_failure(run: Run) -> None:
    keep = create(run, "--protected", name="keep")
    drop = create(run, name="drop")
    result = run("image", "delete", keep["id"], "missing-id", drop["id"], code=1)
    assert result.stdout.strip() == f"Deleted {drop['id']}"
    errors = result.stderr.strip().splitlines()
    assert errors == [
        f"Error: Image {keep['id']} is protected and cannot be deleted.",
        "Error: No image found with ID, name or ID prefix missing-id",
    ]
    assert [i["name"] for i in as_json(run("image", "list", "--format", "json"))] == ["keep"]


# -- errors and help ----------------------------------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (("image", "show", "nope"), "No image found with ID, name or ID prefix nope"),
    (("image", "delete", "nope"), "No image found with ID, name or ID prefix nope"),
    (("image", "download", "nope", "--file", "out"), "No image found with ID, name or ID prefix nope"),
    (("image", "list", "--config", "/nonexistent/cowshed.toml"), "cannot read config file"),
])
def test_library_errors_are_one_line(run: Run, args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(run(*args, code=1), fragment)


def test_upload_to_a_missing_image_is_one_line(run: Run, payload_file: Path) -> None:
    result = run("image", "upload", "nope", str(payload_file), code=1)
    assert_one_line_error(result, "No image found with ID, name or ID prefix nope")


def test_bad_settings_are_one_line(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("colour = 'blue'\n")
    result = run("image", "list", "--config", str(config), code=1)
    assert_one_line_error(result, "unknown setting(s): colour")


def _leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out.update(_leaves(command, f"{prefix}{name} "))
        else:
            out[f"{prefix}{name}"] = command
    return out


def _commands() -> list[str]:
    return sorted(_leaves(image))


def test_every_image_command_is_tested_for_help() -> None:
    assert _commands() == [
        "create", "deactivate", "delete", "download", "import", "list", "member add",
        "member list", "member remove", "member set", "reactivate", "set", "show", "stage",
        "stores", "tag add", "tag remove", "task list", "task show", "unset", "upload"]


@pytest.mark.parametrize("name", _commands())
def test_help(run: Run, name: str) -> None:
    command = _leaves(image)[name]
    result = run("image", *name.split(), "--help", data=False)
    assert result.stdout.startswith(f"Usage: cowshed image {name}")
    assert command.help is not None
    assert command.help.splitlines()[0] in result.stdout
    for flag in ("--data-dir", "--config"):
        assert flag in result.stdout
    assert "Examples:\n    cowshed image " + name.split()[0] in result.stdout
    undocumented = [p.name for p in command.params
                    if isinstance(p, click.Option) and not p.help]
    assert undocumented == []


def test_shared_options_mean_the_same_everywhere() -> None:
    """--data-dir and --config come from one decorator: serve and image commands agree."""
    commands = [main.get_command(click.Context(main), "serve"), *_leaves(image).values()]

    def option(command: click.Command, flag: str) -> tuple[object, ...]:
        opt = next(p for p in command.params if isinstance(p, click.Option) and flag in p.opts)
        return (opt.name, opt.help, opt.default)

    for flag in ("--data-dir", "--config"):
        assert len({option(c, flag) for c in commands}) == 1


@pytest.mark.parametrize("size, text", [
    (None, "-"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (9 << 20, "9.0 MiB"),
    (5 << 30, "5.0 GiB"), (3 << 60, "3.0 EiB"), (5000 << 60, "5000.0 EiB"),
])
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


def test_ctrl_c_exits_130_and_keeps_the_part_for_resume(
        run: Run, active: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cowshed.cli.image_local import LocalImages

    real_read = LocalImages.read

    def interrupted(self: LocalImages, image_id: str, offset: int) -> Any:
        blocks = real_read(self, image_id, offset)
        yield next(iter(blocks))
        raise KeyboardInterrupt  # the fault: Ctrl-C after the first block

    monkeypatch.setattr(LocalImages, "read", interrupted)
    out = tmp_path / "out.raw"
    result = run("image", "download", active["id"], "--file", str(out), "--no-progress",
                 code=130)
    assert "out.raw.part kept: run the same command with --resume" in result.stderr
    assert result.stderr.rstrip().endswith("Interrupted.")
    monkeypatch.undo()
    done = run("image", "download", active["id"], "--file", str(out), "--resume",
               "--no-progress")
    assert "resumed at 8.0 MiB" in done.stderr
    assert out.read_bytes() == PAYLOAD
