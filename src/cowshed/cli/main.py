"""``cowshed`` entry point: serve, image …, volume …, node …, identity …, dev …

The command modules are imported only when one of their commands runs (see LazyGroup).
"""

from __future__ import annotations

import click

from cowshed.cli.common import LazyGroup

#: command → (where it is defined, the short help ``cowshed --help`` lists).
COMMANDS = {
    "serve": ("cowshed.cli.serve:serve", "Run the Image API v2 server."),
    "image": ("cowshed.cli.image_manage:image",  # images.py's group, completed there
              "Manage images: through the library on a data dir, or a server over HTTP."),
    "volume": ("cowshed.cli.volumes:volume",
               "Manage block volumes through the library (no HTTP): create (blank, from an "
               "image, a snapshot or a volume), list, show, extend, clone, lineage, "
               "upload-to-image, delete."),
    "snapshot": ("cowshed.cli.volumes:snapshot",
                 "Manage volume snapshots through the library (no HTTP): create, list, show, "
                 "delete."),
    "node": ("cowshed.cli.node:node",
             "Instance disks on this hypervisor: base-image cache, spawn, snapshot, wipe."),
    "identity": ("cowshed.cli.identity:identity",
                 "Users, projects and roles of the standalone identity (docs/identity.md)."),
    "metadefs": ("cowshed.cli.metadefs:metadefs",
                 "Metadata definitions (Glance's /v2/metadefs catalog)."),
    "dev": ("cowshed.cli.dev:dev", "Development services for tests and demos."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cowshed")
def main() -> None:
    """cowshed: the storage half of a VM cloud (Glance-compatible image service)."""
