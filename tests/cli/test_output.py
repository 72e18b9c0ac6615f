"""The OpenStack-client output formats (-f, -c) on fixed records, and that every command has them."""

from __future__ import annotations

import csv
import io
import json

import click
import pytest
import yaml  # PyYAML comes with the OpenStack clients of the test extra
from click.testing import CliRunner

from cowshed.cli.main import main
from cowshed.cli.output import FORMATS, output_options, show_record, show_records

RECORDS = [
    {"id": "a1", "name": "data", "size": 1, "bootable": False, "metadata": {"k": "v"},
     "attached_to": [], "description": None},
    {"id": "b2", "name": "root: \"x\"", "size": 20, "bootable": True, "metadata": {},
     "attached_to": ["srv-1"], "description": "multi\nline"},
]


@click.command()
@click.option("--one", is_flag=True)
@output_options
def cmd(one: bool, output: str, columns: tuple[str, ...]) -> None:
    if one:
        show_record(RECORDS[0], output, columns)
    else:
        show_records(RECORDS, output, columns, default_columns=("id", "name", "size"))


def run(*args: str) -> str:
    result = CliRunner().invoke(cmd, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_json_round_trips_every_field() -> None:
    assert json.loads(run("-f", "json")) == RECORDS
    assert json.loads(run("--one", "-f", "json")) == RECORDS[0]


def test_columns_pick_fields_in_order() -> None:
    assert json.loads(run("-f", "json", "-c", "size", "-c", "id")) == [
        {"size": 1, "id": "a1"}, {"size": 20, "id": "b2"}]
    assert run("--one", "-f", "value", "-c", "name", "-c", "bootable") == "data\nfalse\n"


def test_value_list_uses_the_default_columns() -> None:
    assert run("-f", "value") == 'a1 data 1\nb2 root: "x" 20\n'


def test_csv_quotes_what_needs_quoting() -> None:
    rows = list(csv.DictReader(io.StringIO(run("-f", "csv", "-c", "name", "-c", "description"))))
    assert rows == [{"name": "data", "description": ""},
                    {"name": 'root: "x"', "description": "multi\nline"}]


def test_yaml_is_parseable_yaml() -> None:
    assert yaml.safe_load(run("-f", "yaml")) == RECORDS
    assert yaml.safe_load(run("--one", "-f", "yaml")) == RECORDS[0]


def test_unknown_column_is_a_usage_error() -> None:
    result = CliRunner().invoke(cmd, ["-c", "nope"])
    assert result.exit_code == 2
    assert "No such column: nope" in result.output


def test_table_shows_defaults() -> None:
    out = run()
    assert "a1" in out and "root" in out and "metadata" not in out


def _leaves(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    if not isinstance(command, click.Group):
        return [(path, command)]
    ctx = click.Context(command)
    return [leaf for name in command.list_commands(ctx)
            for leaf in _leaves(command.get_command(ctx, name) or command, f"{path} {name}")]


def test_every_command_that_prints_records_has_the_one_output_convention() -> None:
    """Any ``-f/--format`` in the CLI is the shared one, with ``-c/--column`` beside it (no
    command group keeps an older, narrower ``--format``)."""
    with_format = 0
    for path, command in _leaves(main, "cowshed"):
        options = {o: p for p in command.params if isinstance(p, click.Option) for o in p.opts}
        if "--format" not in options:
            continue
        with_format += 1
        fmt = options["--format"]
        assert isinstance(fmt.type, click.Choice), path
        assert (tuple(fmt.type.choices), fmt.opts) == (FORMATS, ["-f", "--format"]), path
        assert options.get("-c") is options.get("--column") is not None, path
    assert with_format >= 30  # image, volume, snapshot, identity, node, metadefs commands


@pytest.mark.parametrize("path", [p for p, _ in _leaves(main, "cowshed")])
def test_every_help_ends_with_examples_of_that_command(path: str) -> None:
    words = path.split()[1:]
    result = CliRunner().invoke(main, [*words, "--help"], prog_name="cowshed")
    assert result.exit_code == 0, result.output
    text = result.output.split("Options:")[0]
    assert "Examples:" in text, f"{path} --help has no examples"
    lines = [ln.strip() for ln in text.split("Examples:")[1].splitlines() if ln.strip()]
    assert lines and all(ln.startswith("cowshed ") for ln in lines), lines
    # the first example runs this command: its words in order (group options between them)
    rest = lines[0].split()
    for word in words:
        assert word in rest, (path, lines[0])
        rest = rest[rest.index(word) + 1:]
