"""Which door an ``image`` command goes through: the library on a data dir, or HTTP.

The rule (docs/cli.md, "Local or remote"): ``--os-image-url`` on the command line means HTTP;
else ``--data-dir`` on the command line means the library; else the openstack CLI's variables
``OS_IMAGE_URL`` or ``OS_ENDPOINT`` mean HTTP; else the library on the default data dir.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from click.core import ParameterSource

from cowshed.cli.common import F, library
from cowshed.cli.image_http import RemoteImages
from cowshed.cli.image_ops import ImageOps, LocalImages


@dataclass(frozen=True)
class Remote:
    """The remote options given to ``cowshed image``."""

    url: str | None
    token: str | None
    url_on_command_line: bool


def remote_options(func: F) -> F:
    """``--os-image-url`` and ``--os-token`` on the ``image`` group (openstack's names)."""
    func = click.option(
        "--os-token", envvar=["OS_TOKEN", "OS_AUTH_TOKEN"], default=None, metavar="TOKEN",
        help="Token sent as X-Auth-Token (default $OS_TOKEN or $OS_AUTH_TOKEN).",
    )(func)
    return click.option(
        "--os-image-url", envvar=["OS_IMAGE_URL", "OS_ENDPOINT"], default=None, metavar="URL",
        help="Drive the server at URL over HTTP instead of the library (default "
             "$OS_IMAGE_URL or $OS_ENDPOINT).",
    )(func)


def remember_remote(os_image_url: str | None, os_token: str | None) -> None:
    """Keep the group's remote options for its commands (in the click context)."""
    ctx = click.get_current_context()
    source = ctx.get_parameter_source("os_image_url")
    ctx.obj = Remote(os_image_url or None, os_token or None,
                     source == ParameterSource.COMMANDLINE)


def _remote() -> Remote:
    found = click.get_current_context().find_object(Remote)
    return found if found is not None else Remote(None, None, False)


@contextmanager
def image_session(data_dir: Path | None, config_file: Path | None, *,
                  writes: bool = False) -> Iterator[ImageOps]:
    """The ImageOps for this command, closed afterwards (see the module docstring)."""
    remote = _remote()
    ctx = click.get_current_context()
    dir_given = ctx.get_parameter_source("data_dir") == ParameterSource.COMMANDLINE
    if remote.url and remote.url_on_command_line and (dir_given or config_file is not None):
        raise click.UsageError("--os-image-url drives a server over HTTP; --data-dir and "
                               "--config name a local deployment: give one or the other")
    if remote.url and not dir_given and config_file is None:
        ops: ImageOps = RemoteImages(remote.url, remote.token)
        try:
            yield ops
        finally:
            ops.close()
        return
    with library(data_dir, config_file, writes=writes) as services:
        yield LocalImages(services)


def examples(*lines: str) -> Callable[[F], F]:
    """Append an ``Examples:`` block to a command's help (kept verbatim by click)."""

    def add(func: F) -> F:
        doc = inspect.cleandoc(func.__doc__ or "")
        block = "\n".join(f"  {line}" for line in lines)
        func.__doc__ = f"{doc}\n\n\b\nExamples:\n{block}\n"
        return func

    return add
