"""``cowshed node …``: the node disk manager (Nova's libvirt image backends) on this host.

``--config`` belongs to the group (``cowshed node --config F spawn …``); settings come from the
file's ``[node]`` table and ``COWSHED_NODE_*``. Every command takes ``-f json`` and then prints
exactly one JSON object on stdout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cowshed.cli.common import (
    CONFIG_HELP,
    DATA_DIR_HELP,
    CowshedGroup,
    examples,
    human_size,
    settings_for,
)
from cowshed.cli.output import output_options, show_record, show_records
from cowshed.domain.instance_disks import Flavor, InstanceRecord
from cowshed.node.settings import ImagesType

if TYPE_CHECKING:  # the manager (and its HTTP client) is imported when a command runs
    from cowshed.node.manager import NodeManager


@click.group(cls=CowshedGroup)
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help=CONFIG_HELP + " Node settings are its [node] table.")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help=DATA_DIR_HELP)
@click.pass_context
def node(ctx: click.Context, config_file: Path | None, data_dir: Path | None) -> None:
    """Instance disks on this hypervisor: base-image cache, spawn, snapshot, wipe."""
    ctx.obj = (data_dir, config_file)


@contextmanager
def _manager(ctx: click.Context) -> Iterator[NodeManager]:
    data_dir, config_file = ctx.obj
    from cowshed.node.manager import NodeManager

    with NodeManager(settings_for(data_dir, config_file)) as manager:
        yield manager


def _emit(output: str, columns: tuple[str, ...], data: dict[str, Any],
          text: str | None = None) -> None:
    """One object in a machine format (``-f json``: exactly one JSON object), else ``text``
    (or the field/value table when there is none)."""
    if output != "table" or text is None:
        show_record(data, output, columns)
    else:
        click.echo(text)


@node.command()
@click.argument("instance")
@click.option("--image", "image_id", default=None, help="ID of the image to boot from.")
@click.option("--boot-volume", default=None, metavar="VOLUME_ID",
              help="Boot from this volume of the volume service instead of an image.")
@click.option("--root-gb", type=click.IntRange(min=0), default=None,
              help="Root disk size in GiB (default: the image's virtual size).")
@click.option("--ephemeral-gb", type=click.IntRange(min=0), default=0, show_default=True,
              help="Ephemeral disk (disk.eph0) size in GiB, formatted.")
@click.option("--swap-mb", type=click.IntRange(min=0), default=0, show_default=True,
              help="Swap disk (disk.swap) size in MiB.")
@click.option("--images-type", type=click.Choice([t.value for t in ImagesType]), default=None,
              help="Override [node] images_type for this instance.")
@click.option("--encrypt", is_flag=True, help="Encrypt the disks (LUKS qcow2, librbd luks2).")
@click.option("--config-drive", is_flag=True, help="Add a config drive (disk.config, ISO 9660).")
@click.option("--plan", is_flag=True, help="Only say what each disk would be; change nothing.")
@output_options
@click.pass_context
@examples("cowshed node --config node.toml spawn vm1 --image IMAGE_ID --root-gb 10",
          "cowshed node --config node.toml spawn vm2 --boot-volume VOLUME_ID --plan")
def spawn(ctx: click.Context, instance: str, image_id: str | None, boot_volume: str | None,
          root_gb: int | None,
          ephemeral_gb: int, swap_mb: int, images_type: str | None, encrypt: bool,
          config_drive: bool, plan: bool, output: str, columns: tuple[str, ...]) -> None:
    """Create the disks of INSTANCE from an image (fetched once per host)."""
    if bool(image_id) == bool(boot_volume):
        raise click.UsageError("give --image or --boot-volume, one of them")
    from cowshed.node.manager import SpawnRequest

    request = SpawnRequest(
        instance=instance, image_id=image_id or "", boot_volume=boot_volume,
        flavor=Flavor(root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap_mb=swap_mb),
        images_type=ImagesType(images_type) if images_type else None, encrypt=encrypt,
        config_drive=config_drive,
    )
    with _manager(ctx) as manager:
        if plan:
            result = manager.plan(request)
            _emit(output, columns, result.record(), result.text())
            return
        started = time.monotonic()
        record = manager.spawn(request)
        elapsed = time.monotonic() - started
    data = record.record()
    data["elapsed_seconds"] = round(elapsed, 4)
    if output == "table" and not columns:
        _show_instance(record)
    else:
        show_record(data, output, columns)


def _show_instance(record: InstanceRecord) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"instance {record.instance} ({record.images_type})")
    for column in ("disk", "target", "format", "size", "provision", "source"):
        table.add_column(column)
    for disk in record.disks:
        table.add_row(disk.name, disk.target, disk.format, human_size(disk.size),
                      str(disk.provision), disk.path)
    Console(width=200).print(table)


@node.command("disk-xml")
@click.argument("instance")
@output_options
@click.pass_context
@examples("cowshed node --config node.toml disk-xml vm1")
def disk_xml(ctx: click.Context, instance: str, output: str, columns: tuple[str, ...]) -> None:
    """Print the libvirt <disk> elements of INSTANCE, root disk first."""
    with _manager(ctx) as manager:
        xml = manager.disk_xml(instance)
    if output == "table" and not columns:
        click.echo(xml, nl=False)
    else:
        show_record({"instance": instance, "xml": xml}, output, columns)


@node.command()
@click.argument("instance")
@click.option("--name", required=True, help="Name of the new image.")
@click.option("--live", is_flag=True,
              help="Copy the disk of the running libvirt domain (the guest keeps running).")
@click.option("--domain", default=None, help="The libvirt domain of INSTANCE (with --live).")
@click.option("--qmp", "qmp", default=None, metavar="SOCKET",
              help="The QMP socket of INSTANCE's plain QEMU (with --live, instead of --domain).")
@output_options
@click.pass_context
@examples("cowshed node --config node.toml snapshot vm1 --name vm1-snap",
          "cowshed node --config node.toml snapshot vm1 --name live --live --domain vm1")
def snapshot(ctx: click.Context, instance: str, name: str, live: bool, domain: str | None,
             qmp: str | None, output: str, columns: tuple[str, ...]) -> None:
    """Snapshot the root disk of INSTANCE into the image service; prints the new image id."""
    if (domain or qmp) and not live:
        raise click.UsageError("--domain and --qmp go with --live")
    with _manager(ctx) as manager:
        from cowshed.node.manager import SnapshotRequest

        result = manager.snapshot(SnapshotRequest(instance, name, live=live, domain=domain,
                                                  qmp=qmp))
    image = result.image
    _emit(output, columns, {"id": image.id, "name": image.name, "status": image.status,
                            "method": result.method,
                   "disk_format": image.disk_format, "size": image.size,
                   "properties": dict(image.properties)}, image.id)


@node.command()
@click.argument("instance")
@output_options
@click.pass_context
@examples("cowshed node --config node.toml delete vm1")
def delete(ctx: click.Context, instance: str, output: str, columns: tuple[str, ...]) -> None:
    """Wipe (volume_clear) and remove the disks of INSTANCE; prints the wipe receipt."""
    with _manager(ctx) as manager:
        report = manager.delete(instance)
    data = report.record()
    lines = [f"deleted {instance}; receipt {report.receipt_file}"]
    for r in report.receipts:
        lines.append(f"  {r.disk}: {r.method}, {r.passes} pass(es), {r.bytes_overwritten} bytes, "
                     f"verified={r.verified} {r.note}".rstrip())
    _emit(output, columns, data, "\n".join(lines))


@node.command("cache-list")
@output_options
@click.pass_context
@examples("cowshed node --config node.toml cache-list -f json")
def cache_list(ctx: click.Context, output: str, columns: tuple[str, ...]) -> None:
    """List the base images and templates in <instances_path>/_base."""
    with _manager(ctx) as manager:
        entries = manager.cache_list()
    if output in ("json", "yaml"):  # one object, as every node command gives
        show_record({"entries": [e.record() for e in entries]}, output)
        return
    if output != "table" or columns:
        show_records([e.record() for e in entries], output, columns)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("name", "kind", "image", "format", "virtual size", "on disk", "age", "users"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.name, e.kind, e.image_id or "-", e.format, human_size(e.virtual_size),
                      human_size(e.allocated), f"{e.age_seconds:.0f}s",
                      ", ".join(e.users) or "-")
    Console(width=200).print(table)


@node.command("cache-clean")
@click.option("--no-verify", is_flag=True, help="Skip re-verifying the checksums of bases in use.")
@click.option("--repeat", is_flag=True,
              help="Run a pass every image_cache_manager_interval seconds until interrupted.")
@output_options
@click.pass_context
@examples("cowshed node --config node.toml cache-clean",
          "cowshed node --config node.toml cache-clean --repeat")
def cache_clean(ctx: click.Context, no_verify: bool, repeat: bool, output: str,
                columns: tuple[str, ...]) -> None:
    """Remove unused old bases, re-verify the ones in use, clean up leftovers."""
    with _manager(ctx) as manager:
        while True:
            report = manager.cache_clean(verify=not no_verify)
            data = report.record()
            text = "\n".join(f"{k}: {', '.join(v) or '-'}" for k, v in data.items()
                             if isinstance(v, list))
            _emit(output, columns, data, text)
            if not repeat:
                return
            time.sleep(max(60, manager.ctx.node.image_cache_manager_interval))
