"""How the CLI shows transfers: a rich progress bar on stderr.

rich's progress module is imported when a transfer starts, not with the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cowshed.cli.common import human_size

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, TaskID


def _binary_speed_column() -> ProgressColumn:
    """Transfer speed in binary units (MiB/s), matching the sizes shown elsewhere."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class BinarySpeedColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("?", style="progress.data.speed")
            return Text(f"{human_size(int(speed))}/s", style="progress.data.speed")

    return BinarySpeedColumn()


@contextmanager
def transfer_progress(label: str, total: int | None, enabled: bool = True,
                      ) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (bytes, MiB/s, ETA); yields the ``advance(nbytes)`` callback.

    The bar appears with the first bytes, so a request refused up front prints only its error.
    """
    if not enabled:
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        DownloadColumn(binary_units=True), _binary_speed_column(), TimeRemainingColumn(),
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
