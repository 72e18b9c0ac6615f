"""What every ``cowshed`` command shares: the deployment options, opening the library, errors."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cowshed.config import DEFAULT_DATA_DIR, Settings, load_settings
from cowshed.errors import CowshedError

if TYPE_CHECKING:  # the library is imported when a command opens it, not by --help
    from cowshed.services.app import Services

F = TypeVar("F", bound=Callable[..., Any])

#: exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

DATA_DIR_HELP = (
    "Where the database, images and staging area live (default $COWSHED_DATA_DIR, else "
    f"{DEFAULT_DATA_DIR})."
)
CONFIG_HELP = "TOML settings file (default $COWSHED_CONFIG or DATA_DIR/cowshed.toml)."


def deployment_options(func: F) -> F:
    """Add ``--data-dir`` and ``--config``, passed as ``data_dir`` and ``config_file``."""
    func = click.option(
        "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
        default=None, help=CONFIG_HELP,
    )(func)
    func = click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
        help=DATA_DIR_HELP,
    )(func)
    return func


def settings_for(data_dir: Path | None, config_file: Path | None) -> Settings:
    """Settings exactly as ``cowshed serve`` would load them."""
    return load_settings(data_dir=data_dir, config_file=config_file)


@contextmanager
def library(data_dir: Path | None, config_file: Path | None, *,
            writes: bool = False) -> Iterator[Services]:
    """The library's services for one command, closed again afterwards.

    A command that ``writes`` holds the data dir's shared lock while it runs, so no server
    starts (and runs its recovery) under it; it is refused while a server holds the data dir,
    with the URL of that server's API instead.
    """
    from cowshed.services.app import open_services
    from cowshed.services.datadir import DataDirLock, this_process

    settings = settings_for(data_dir, config_file)
    with ExitStack() as stack:
        if writes and settings.data_dir_lock:
            stack.enter_context(DataDirLock.acquire(
                settings.data_dir, this_process("cowshed"), exclusive=False))
        services = open_services(settings)
        stack.callback(services.close)
        yield services


def one_line(message: str) -> str:
    return " ".join(message.split())


def error_message(exc: CowshedError | OSError) -> str:
    """What the user sees after ``Error:`` for a library or file-system error."""
    if isinstance(exc, CowshedError):
        return one_line(exc.message)
    if exc.filename is not None:
        return one_line(f"{exc.filename}: {exc.strerror or exc}")
    return one_line(str(exc))


def examples(*lines: str) -> Callable[[F], F]:
    """Append an ``Examples:`` block to a command's help (kept verbatim by click)."""

    def add(func: F) -> F:
        doc = inspect.cleandoc(func.__doc__ or "")
        block = "\n".join(f"  {line}" for line in lines)
        func.__doc__ = f"{doc}\n\n\b\nExamples:\n{block}\n"
        return func

    return add


class CowshedGroup(click.Group):
    """A command group whose commands report library and file errors as one ``Error:`` line.

    The border between the library and the terminal: CowshedError and OSError become a
    ClickException (exit status 1, no traceback); anything else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (CowshedError, OSError) as exc:
            raise click.ClickException(error_message(exc)) from exc
        except KeyboardInterrupt:
            # Ctrl-C: the shell convention (128 + SIGINT), not click's "Aborted!" with status 1
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


class LazyGroup(CowshedGroup):
    """A group whose commands live in modules imported only when one of them is run.

    ``lazy`` maps a command name to ``("module:attribute", short help)``. The short help is
    what the group's ``--help`` lists, so listing the commands imports none of them
    (tests/cli/test_lazy.py holds each to the command's own first help line). Start-up cost
    is why: every command module pulls in the library or an HTTP client, and ``cowshed
    --help`` or one ``cowshed image list`` should pay only for what it runs.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name][0].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the declared short help of commands not imported yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            # a stand-in carrying the declared help, shortened exactly as click shortens it
            command = self.commands.get(name) or click.Command(name, help=self.lazy[name][1])
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int | None) -> str:
    """``1536`` → ``1.5 KiB``; None (no data yet) → ``-``."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    index = 0
    while value >= 1024 and index < len(_UNITS) - 1:
        value /= 1024
        index += 1
    return f"{value:.1f} {_UNITS[index]}"
