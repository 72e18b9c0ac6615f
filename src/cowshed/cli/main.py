"""``cowshed`` entry point: serve, image …, dev …"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import click

from cowshed.cli.common import CowshedGroup, deployment_options, settings_for
from cowshed.config import AUTH_STRATEGIES


@click.group(cls=CowshedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cowshed")
def main() -> None:
    """cowshed: the storage half of a VM cloud (Glance-compatible image service)."""


@main.command()
@deployment_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9292, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (Glance's is 9292).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Least severe log messages to print.")
@click.option("--auth-strategy", type=click.Choice(AUTH_STRATEGIES), default=None,
              help="Who may call the APIs (overrides the auth_strategy setting): noauth, "
                   "standalone or keystone. See docs/identity.md.")
def serve(data_dir: Path | None, config_file: Path | None, host: str, port: int,
          log_level: str, auth_strategy: str | None) -> None:
    """Run the Image API v2 server."""
    import uvicorn

    from cowshed.api.app import create_app
    from cowshed.services.identity.auth import check_listen

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_for(data_dir, config_file)
    if auth_strategy is not None:
        settings = dataclasses.replace(settings, auth_strategy=auth_strategy)
    check_listen(settings, host)
    app = create_app(settings)
    # httptools and uvloop (uvicorn[standard]) named outright: "auto" would fall back to the
    # pure-Python h11 parser and asyncio loop without a word when they are missing.
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                http="httptools", loop="uvloop",
                timeout_keep_alive=75, h11_max_incomplete_event_size=64 * 1024)


def _register() -> None:
    from cowshed.cli.images import image
    from cowshed.cli.node import node
    from cowshed.cli.volumes import snapshot, volume

    main.add_command(image)
    main.add_command(node)
    main.add_command(volume)
    main.add_command(snapshot)
    try:
        from cowshed.cli.dev import dev
    except ImportError:  # pragma: no cover - dev tools are optional
        return
    main.add_command(dev)


_register()
