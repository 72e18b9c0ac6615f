"""How the CLI shows transfers: a rich progress bar on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
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
from rich.text import Text

from cowshed.cli.common import F, human_size


def format_option(func: F) -> F:
    """``--format table|json``, passed as ``output``: the older, narrower form of
    ``output.output_options`` (``-f`` with five formats and ``-c``), still used by commands
    not yet moved to it."""
    return click.option(
        "--format", "output", type=click.Choice(("table", "json")), default="table",
        show_default=True, help="table for people, json for scripts.",
    )(func)


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
