"""``cowshed metadefs``: the metadata definitions catalog, from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from cowshed.cli.common import CowshedGroup, deployment_options, examples, library
from cowshed.cli.output import output_options, show_records


@click.group(cls=CowshedGroup)
def metadefs() -> None:
    """Metadata definitions (Glance's /v2/metadefs catalog)."""


@metadefs.command("load")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--overwrite", is_flag=True,
              help="Replace namespaces that exist already (default: leave them, skip the file).")
@output_options
@deployment_options
@examples("cowshed metadefs load /etc/glance/metadefs",
          "cowshed metadefs load ./metadefs --overwrite")
def load(directory: Path, overwrite: bool, output: str, columns: tuple[str, ...],
         data_dir: Path | None, config_file: Path | None) -> None:
    """Load every *.json file in DIRECTORY, in Glance's metadef format (as
    ``glance-manage db_load_metadefs`` does). Every file is checked first: one bad file
    loads nothing."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise click.ClickException(f"No *.json files in {directory}")
    with library(data_dir, config_file, writes=True) as svc:
        results = svc.metadefs.load_files(svc.admin_context(), files, overwrite)
    show_records([{"file": Path(r.file).name, "namespace": r.namespace, "outcome": r.outcome}
                  for r in results], output, columns)
