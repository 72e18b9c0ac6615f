"""The conventions every ``cowshed`` command follows (docs/cli.md, "Conventions").

Output in the OpenStack client's formats: ``-f table|json|yaml|value|csv`` and ``-c COLUMN``
(repeatable) to keep only some fields, as ``openstack … show/list`` do; ``--long`` for more
columns in list tables. Objects are addressed by id, unique name or unique id prefix
(:func:`resolve`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cowshed.cli.common import F
from cowshed.errors import InvalidRequest, NotFound

if TYPE_CHECKING:  # rich is imported when a table is printed (-f json/yaml/value/csv skip it)
    from rich.console import Console

FORMATS = ("table", "json", "yaml", "value", "csv")
Record = dict[str, Any]
T = TypeVar("T")


def long_option(func: F) -> F:
    """``--long``, passed as ``long``: more columns in list tables (openstack's ``--long``)."""
    return click.option("--long", "long", is_flag=True,
                        help="Show more columns in the table.")(func)


def resolve(ref: str, get: Callable[[str], T], everything: Callable[[], list[T]],
            what: str) -> T:
    """The object ``ref`` names: its id, else its unique name, else its unique id prefix.

    ``get`` looks an id up (NotFound when there is none); ``everything`` lists the candidates
    (dicts with ``id`` and ``name``, or objects with those attributes). Ambiguity is an error
    naming the matches, never a guess.
    """
    try:
        return get(ref)
    except NotFound:
        pass
    items = everything()
    for label, matches in (("are named", [i for i in items if _attr(i, "name") == ref]),
                           ("have ids starting with",
                            [i for i in items if ref and str(_attr(i, "id")).startswith(ref)])):
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(str(_attr(i, "id")) for i in matches[:5])
            raise InvalidRequest(f"{len(matches)} {what}s {label} {ref!r} ({ids}): use the id")
    raise NotFound(f"No {what} found with ID, name or ID prefix {ref}")


def _attr(item: object, name: str) -> object:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def output_options(func: F) -> F:
    """``-f/--format`` (passed as ``output``) and ``-c/--column`` (passed as ``columns``)."""
    func = click.option(
        "-c", "--column", "columns", multiple=True, metavar="COLUMN",
        help="Show only this field (repeat for several).",
    )(func)
    return click.option(
        "-f", "--format", "output", type=click.Choice(FORMATS), default="table",
        show_default=True, help="table for people; json, yaml, value or csv for scripts.",
    )(func)


def _pick(record: Record, columns: Sequence[str]) -> Record:
    if not columns:
        return record
    unknown = [c for c in columns if c not in record]
    if unknown:
        raise click.UsageError(f"No such column: {', '.join(unknown)} (have: "
                               f"{', '.join(record)})")
    return {c: record[c] for c in columns}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _yaml(value: Any, indent: int = 0) -> str:
    """Block YAML for JSON-like data (strings are emitted as JSON strings, valid YAML)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            inner = _yaml(item, indent + 2)
            nested = isinstance(item, dict | list) and item
            lines.append(f"{pad}{json.dumps(str(key))}:" + (f"\n{inner}" if nested
                                                             else f" {inner}"))
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        return "\n".join(f"{pad}- " + _yaml(item, indent + 2).lstrip() for item in value)
    return json.dumps(value)


def show_record(record: Record, output: str, columns: Sequence[str] = ()) -> None:
    """One object: a two-column field/value table, or the chosen machine format."""
    record = _pick(record, columns)
    if output == "json":
        click.echo(json.dumps(record, indent=2))
    elif output == "yaml":
        click.echo(_yaml(record))
    elif output == "value":
        for value in record.values():
            click.echo(_text(value))
    elif output == "csv":
        _csv([record])
    else:
        from rich.table import Table

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, value in record.items():
            table.add_row(key, _text(value) or "-")
        _console().print(table)


def show_records(records: list[Record], output: str, columns: Sequence[str] = (),
                 default_columns: Sequence[str] = ()) -> None:
    """A list: table columns are ``columns``, else ``default_columns``, else every field."""
    chosen = list(columns) or ([] if output in ("json", "yaml") else list(default_columns))
    rows = [_pick(r, chosen) for r in records]
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
    elif output == "yaml":
        click.echo(_yaml(rows))
    elif output == "value":
        for row in rows:
            click.echo(" ".join(_text(v) for v in row.values()))
    elif output == "csv":
        _csv(rows)
    else:
        from rich import box
        from rich.table import Table

        names = list(rows[0]) if rows else chosen
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(_text(row.get(n)) or "-" for n in names))
        _console().print(table)


def _csv(rows: list[Record]) -> None:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _text(v) for k, v in row.items()} for row in rows)
    click.echo(buf.getvalue(), nl=False)


def _console() -> Console:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)
