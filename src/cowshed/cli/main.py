"""``cowshed`` entry point: serve, image …, dev …"""

from __future__ import annotations

import click

from cowshed.cli.common import CowshedGroup


@click.group(cls=CowshedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cowshed")
def main() -> None:
    """cowshed: the storage half of a VM cloud (Glance-compatible image service)."""


def _register() -> None:
    from cowshed.cli.identity import identity
    from cowshed.cli.image_manage import register as register_image_commands
    from cowshed.cli.images import image
    from cowshed.cli.metadefs import metadefs
    from cowshed.cli.node import node
    from cowshed.cli.serve import serve
    from cowshed.cli.volumes import snapshot, volume

    main.add_command(serve)
    register_image_commands(image)
    main.add_command(image)
    main.add_command(metadefs)
    main.add_command(node)
    main.add_command(volume)
    main.add_command(snapshot)
    main.add_command(identity)
    try:
        from cowshed.cli.dev import dev
    except ImportError:  # pragma: no cover - dev tools are optional
        return
    main.add_command(dev)


_register()
