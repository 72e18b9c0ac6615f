"""The OpenStack-client output formats of the volume commands (-f, -c), on fixed records."""

from __future__ import annotations

import csv
import io
import json

import click
import yaml  # PyYAML comes with the OpenStack clients of the test extra
from click.testing import CliRunner

from cowshed.cli.output import output_options, show_record, show_records

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
