"""How the CLI shows images (rich tables or JSON) and transfers (a rich progress bar)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from cowshed.cli.common import F, human_size
from cowshed.domain.images import Image

FORMATS = ("table", "json")


def format_option(func: F) -> F:
    """``--format table|json``, passed as ``output``."""
    return click.option(
        "--format", "output", type=click.Choice(FORMATS), default="table", show_default=True,
        help="table for people, json for scripts.",
    )(func)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_record(image: Image) -> dict[str, Any]:
    """The JSON form of an image (``openstack image show -f json`` layout)."""
    return {
        "id": image.id, "name": image.name, "status": str(image.status),
        "visibility": str(image.visibility), "protected": image.protected,
        "os_hidden": image.os_hidden, "disk_format": image.disk_format,
        "container_format": image.container_format, "size": image.size,
        "virtual_size": image.virtual_size, "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
        "min_disk": image.min_disk, "min_ram": image.min_ram, "owner": image.owner,
        "created_at": _time(image.created_at), "updated_at": _time(image.updated_at),
        "tags": list(image.tags), "properties": dict(image.properties),
        "stores": list(image.stores),
    }


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return "\n".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
    return str(value)


def show_image(image: Image, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(image_record(image), indent=2))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in image_record(image).items():
        if key in ("size", "virtual_size") and value is not None:
            value = f"{human_size(value)} ({value} bytes)"
        table.add_row(key, _cell(value))
    _console().print(table)


def show_images(images: list[Image], output: str) -> None:
    if output == "json":
        click.echo(json.dumps([image_record(i) for i in images], indent=2))
        return
    console = _console()
    wide = console.width >= 100  # below that, ID, name, status and size only
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", no_wrap=True, min_width=36)
    table.add_column("Name", overflow="fold", min_width=8, ratio=1)
    table.add_column("Status", no_wrap=True)
    if wide:
        table.add_column("Format", no_wrap=True)
    table.add_column("Size", no_wrap=True, justify="right")
    if wide:
        table.add_column("Visibility", no_wrap=True)
    for i in images:
        extra = [_formats(i), human_size(i.size), str(i.visibility)]
        cells = [i.id, i.name or "-", str(i.status), *(extra if wide else extra[1:2])]
        table.add_row(*cells)
    console.print(table)


def _formats(image: Image) -> str:
    """``qcow2`` for the usual bare container, else ``disk/container``."""
    disk = image.disk_format or "-"
    if image.container_format in (None, "bare"):
        return disk
    return f"{disk}/{image.container_format}"


def _console() -> Console:
    """stdout; when it is not a terminal, wide enough that IDs and hashes stay whole."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


class _BinarySpeedColumn(ProgressColumn):
    """Transfer speed in binary units (MiB/s), matching the sizes shown elsewhere."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("?", style="progress.data.speed")
        return Text(f"{human_size(int(speed))}/s", style="progress.data.speed")


@contextmanager
def transfer_progress(label: str, total: int | None, enabled: bool = True,
                      ) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (bytes, MiB/s, ETA); yields the ``advance(nbytes)`` callback.

    The bar appears with the first bytes, so a request refused up front prints only its error.
    """
    if not enabled:
        yield _ignore
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        DownloadColumn(binary_units=True), _BinarySpeedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    tasks: list[TaskID] = []

    def advance(nbytes: int) -> None:
        if not tasks:
            progress.start()
            tasks.append(progress.add_task(label, total=total))
        progress.advance(tasks[0], nbytes)

    try:
        yield advance
    finally:
        if tasks:
            progress.stop()


def _ignore(_: int) -> None:
    return None
