"""``cowshed dev …``: development services (a single-host Ceph cluster).

Thin over :class:`cowshed.dev.ceph.DevCephCluster`; listed in ``cli/main.py``'s COMMANDS and
imported only when a ``cowshed dev`` command runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from cowshed.cli.common import examples
from cowshed.errors import CowshedError

#: where ``cowshed dev ceph`` keeps its cluster unless told otherwise.
DEFAULT_DIR = Path(os.environ.get("COWSHED_DEV_CEPH_DIR", ".cowshed-dev/ceph"))

_dir_option = click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
    show_default=True, help="Directory holding the cluster's conf, data, pids and logs.",
)


@click.group()
def dev() -> None:
    """Development services for tests and demos."""


@dev.group()
def ceph() -> None:
    """A throwaway single-host Ceph cluster (1 mon, N memstore OSDs, no auth)."""


@ceph.command()
@_dir_option
@click.option("--osds", type=click.IntRange(1, 16), default=1, show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Mon port (default: free).")
@click.option("--memstore-gib", type=click.IntRange(1), default=4, show_default=True,
              help="RAM each OSD may use for data.")
@click.option("--pool-size", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Copies of each object (at most --osds; each copy on its own OSD).")
@click.option("--pool-min-size", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Copies that must be up for a PG to serve reads and writes.")
@examples("cowshed dev ceph up",
          "cowshed dev ceph up --dir /tmp/ceph --osds 3",
          "cowshed dev ceph up --dir /tmp/ceph3 --osds 3 --pool-size 2")
def up(directory: Path, osds: int, port: int | None, memstore_gib: int, pool_size: int,
       pool_min_size: int) -> None:
    """Start the cluster; print the conf path and the fsid."""
    from cowshed.dev.ceph import DevCephCluster  # here: --help needs none of it
    from cowshed.dev.ceph_conf import GiB

    try:
        cluster = DevCephCluster(directory, osds=osds, port=port,
                                 memstore_bytes=memstore_gib * GiB, pool_size=pool_size,
                                 pool_min_size=pool_min_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        cluster.up()
    except CowshedError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"conf: {cluster.conf_path}")
    click.echo(f"fsid: {cluster.fsid}")


@ceph.command()
@_dir_option
@examples("cowshed dev ceph down")
def down(directory: Path) -> None:
    """Stop this directory's daemons and remove the cluster's state (logs are kept)."""
    from cowshed.dev.ceph import DevCephCluster

    DevCephCluster(directory).down()
    click.echo(f"stopped {directory}")


@ceph.command()
@_dir_option
@examples("cowshed dev ceph status --dir /tmp/ceph")
def status(directory: Path) -> None:
    """Show whether the cluster runs, its daemons, pools and PG states.

    Exits 1 unless the cluster runs with every PG active+clean (handy in scripts).
    """
    from cowshed.dev.ceph import DevCephCluster

    try:
        state = DevCephCluster(directory).status()
    except CowshedError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"running: {'yes' if state.running else 'no'}")
    click.echo(f"conf: {state.conf_path}")
    if state.fsid:
        click.echo(f"fsid: {state.fsid}")
        click.echo(f"mon: {state.mon_addr}")
    for name, pid in state.daemons.items():
        click.echo(f"{name}: {pid if pid is not None else 'not running'}")
    if state.pools:
        click.echo(f"pools: {', '.join(state.pools)}")
    if state.pg_states:
        pgs = ", ".join(f"{count} {name}" for name, count in sorted(state.pg_states.items()))
        click.echo(f"pgs: {pgs}")
    if not state.healthy:
        raise SystemExit(1)


@dev.group()
def postgres() -> None:
    """A throwaway PostgreSQL cluster (trust auth, no durability: scratch data only)."""


@postgres.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--env", "env_name", default="COWSHED_TEST_DATABASE_URL", show_default=True,
              help="Environment variable that carries the cluster's URL to the command.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@examples("cowshed dev postgres run -- python -m pytest tests/api   # the API suite on PostgreSQL")
def run_with_postgres(env_name: str, command: tuple[str, ...]) -> None:
    """Start a cluster in a temporary directory, run COMMAND with its URL, then remove it.

    Exits with the command's exit status.
    """
    import subprocess
    import tempfile

    from cowshed.dev.postgres import DevPostgres

    with tempfile.TemporaryDirectory(prefix="cowshed-pg-") as tmp:
        cluster = DevPostgres(Path(tmp))
        try:
            cluster.up()
        except CowshedError as exc:
            cluster.down()
            raise click.ClickException(exc.message) from exc
        try:
            code = subprocess.call(list(command), env={**os.environ, env_name: cluster.url})
        finally:
            cluster.down()
    raise SystemExit(code)
