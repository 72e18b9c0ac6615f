"""``cowshed volume …`` and ``cowshed snapshot …``: volumes through the library (no HTTP).

Operations that copy or convert (create from an image, clone, upload to an image) run on the
volume service's workers; the command waits for them with a progress bar on stderr (disable
with ``--no-progress``), because a worker of this process stops when the command exits.
Volumes and snapshots are named by id, unique name or unique id prefix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cowshed.cli.common import CowshedGroup, deployment_options, examples, library
from cowshed.cli.output import output_options, resolve, show_record, show_records
from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import Caller, LineageNode, Snapshot, Volume
from cowshed.errors import NotFound

if TYPE_CHECKING:  # the library and rich are imported when a command runs, not by --help
    from rich.tree import Tree

    from cowshed.services.volumes import VolumeService

T = TypeVar("T")
#: the project commands act in unless --project says otherwise (the API's noauth default).
DEFAULT_PROJECT = "admin"
VOLUME_COLUMNS = ("id", "name", "status", "size", "volume_type", "bootable", "attached_to")
SNAPSHOT_COLUMNS = ("id", "name", "status", "size", "volume_id")

_project_option = click.option("--project", default=DEFAULT_PROJECT, show_default=True,
                               help="Project to act in.")
_progress_option = click.option("--progress/--no-progress", "show_progress", default=True,
                                show_default=True, help="Show progress on stderr.")


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def volume_record(v: Volume) -> dict[str, Any]:
    return {
        "id": v.id, "name": v.name, "status": str(v.status), "size": v.size,
        "volume_type": v.volume_type, "bootable": v.bootable, "multiattach": v.multiattach,
        "attached_to": [a.instance_uuid or a.attached_host for a in v.attachments],
        "source": str(v.origin.kind), "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid, "image_id": v.image_id,
        "description": v.description, "metadata": dict(v.metadata),
        "project_id": v.project_id, "created_at": _time(v.created_at),
        "updated_at": _time(v.updated_at),
    }


def snapshot_record(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "status": str(s.status), "size": s.size,
        "volume_id": s.volume_id, "description": s.description, "metadata": dict(s.metadata),
        "project_id": s.project_id, "created_at": _time(s.created_at),
        "updated_at": _time(s.updated_at),
    }


def find_volume(svc: VolumeService, caller: Caller, ref: str) -> Volume:
    return resolve(ref, lambda i: svc.get(caller, i),
                   lambda: list(svc.list(caller, VolumeQuery(limit=None)).items), "volume")


def find_snapshot(svc: VolumeService, caller: Caller, ref: str) -> Snapshot:
    return resolve(ref, lambda i: svc.snapshot_get(caller, i),
                   lambda: list(svc.snapshot_list(caller, VolumeQuery(limit=None)).items),
                   "snapshot")


@contextmanager
def _session(data_dir: Path | None, config_file: Path | None, project: str, *,
             writes: bool = False) -> Iterator[tuple[VolumeService, Caller]]:
    # writers hold the data dir's shared lock: no server starts (and recovers) under them
    with library(data_dir, config_file, writes=writes) as services:
        yield services.volumes, Caller(project_id=project, user_id="cowshed-cli", is_admin=True)


def wait_for(svc: VolumeService, object_id: str, label: str, show: bool,
             wait: Callable[[str, float], T]) -> T:
    """Wait until the object leaves its transient status, drawing the service's progress for
    it (bytes copied or converted) when there is any."""
    if not show:
        return wait(object_id, 3600.0)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TaskProgressColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    with progress:
        task = progress.add_task(label, total=None)
        while True:
            try:
                return wait(object_id, 0.25)
            except TimeoutError:
                state = svc.progress(object_id)
                if state is not None and state.total:
                    progress.update(task, total=state.total, completed=state.done,
                                    description=f"{label}: {state.what}")


@click.group(cls=CowshedGroup)
def volume() -> None:
    """Manage block volumes through the library (no HTTP): create (blank, from an image, a
    snapshot or a volume), list, show, extend, clone, lineage, upload-to-image, delete."""


@volume.command("create")
@click.argument("name")
@click.option("--size", type=click.IntRange(1), help="Size in GiB (default: the source's).")
@click.option("--image", "image_id", help="Create from this image (id).")
@click.option("--snapshot", "snapshot_ref", help="Create from this snapshot.")
@click.option("--source", "source_ref", help="Clone this volume.")
@click.option("--type", "volume_type", help="Volume type (= backend) name.")
@click.option("--description", help="Free text.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Metadata (repeatable).")
@_project_option
@_progress_option
@output_options
@deployment_options
@examples("cowshed volume create data --size 10",
          "cowshed volume create root --image cirros --size 2",
          "cowshed volume create restored --snapshot data-snap")
def create(name: str, size: int | None, image_id: str | None, snapshot_ref: str | None,
           source_ref: str | None, volume_type: str | None, description: str | None,
           properties: tuple[str, ...], project: str, show_progress: bool, output: str,
           columns: tuple[str, ...], data_dir: Path | None, config_file: Path | None) -> None:
    """Create volume NAME and wait until it is available."""
    metadata = dict(_pair(p) for p in properties)
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        snapshot_id = find_snapshot(svc, caller, snapshot_ref).id if snapshot_ref else None
        source_id = find_volume(svc, caller, source_ref).id if source_ref else None
        if size is None and snapshot_id is None and source_id is None:
            raise click.UsageError("--size is required for a blank volume or one from an image")
        made = svc.create(caller, size=size, name=name, description=description,
                          volume_type=volume_type, metadata=metadata, image_id=image_id,
                          snapshot_id=snapshot_id, source_volid=source_id)
        done = wait_for(svc, made.id, f"creating {name}", show_progress, svc.wait_volume)
        show_record(volume_record(done), output, columns)


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{item!r} is not KEY=VALUE")
    return key, value


@volume.command("clone")
@click.argument("source")
@click.argument("name")
@click.option("--size", type=click.IntRange(1), help="Size in GiB (default: the source's).")
@_project_option
@_progress_option
@output_options
@deployment_options
@examples("cowshed volume clone data data-copy --size 20")
def clone(source: str, name: str, size: int | None, project: str, show_progress: bool,
          output: str, columns: tuple[str, ...], data_dir: Path | None,
          config_file: Path | None) -> None:
    """Clone volume SOURCE as NAME (copy-on-write where the backend can)."""
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        src = find_volume(svc, caller, source)
        made = svc.create(caller, size=size, name=name, source_volid=src.id)
        done = wait_for(svc, made.id, f"cloning {src.name or src.id}", show_progress,
                        svc.wait_volume)
        show_record(volume_record(done), output, columns)


@volume.command("list")
@click.option("--all-projects", is_flag=True, help="Every project's volumes.")
@_project_option
@output_options
@deployment_options
@examples("cowshed volume list",
          "cowshed volume list --all-projects -f value -c id")
def list_volumes(all_projects: bool, project: str, output: str, columns: tuple[str, ...],
                 data_dir: Path | None, config_file: Path | None) -> None:
    """List volumes, newest first."""
    with _session(data_dir, config_file, project) as (svc, caller):
        page = svc.list(caller, VolumeQuery(limit=None, all_projects=all_projects))
        show_records([volume_record(v) for v in page.items], output, columns, VOLUME_COLUMNS)


@volume.command("show")
@click.argument("ref")
@_project_option
@output_options
@deployment_options
@examples("cowshed volume show data",
          "cowshed volume show 0b5d -f json")
def show(ref: str, project: str, output: str, columns: tuple[str, ...],
         data_dir: Path | None, config_file: Path | None) -> None:
    """Show one volume (REF: id, name or id prefix)."""
    with _session(data_dir, config_file, project) as (svc, caller):
        show_record(volume_record(find_volume(svc, caller, ref)), output, columns)


@volume.command("extend")
@click.argument("ref")
@click.argument("size", type=click.IntRange(1))
@_project_option
@_progress_option
@output_options
@deployment_options
@examples("cowshed volume extend data 20")
def extend(ref: str, size: int, project: str, show_progress: bool, output: str,
           columns: tuple[str, ...], data_dir: Path | None, config_file: Path | None) -> None:
    """Grow volume REF to SIZE GiB."""
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        vol = find_volume(svc, caller, ref)
        svc.extend(caller, vol.id, size)
        done = wait_for(svc, vol.id, f"extending {vol.name or vol.id}", show_progress,
                        svc.wait_volume)
        show_record(volume_record(done), output, columns)


@volume.command("delete")
@click.argument("refs", nargs=-1, required=True)
@click.option("--cascade", is_flag=True, help="Delete the volume's snapshots too.")
@_project_option
@deployment_options
@examples("cowshed volume delete data --cascade")
def delete(refs: tuple[str, ...], cascade: bool, project: str, data_dir: Path | None,
           config_file: Path | None) -> None:
    """Delete volumes (REFS: ids, names or id prefixes) and wait until they are gone."""
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        for ref in refs:
            vol = find_volume(svc, caller, ref)
            svc.delete(caller, vol.id, cascade=cascade)
            _wait_gone(svc.wait_volume, vol.id)
            click.echo(f"Deleted volume {vol.id}")


def _wait_gone(wait: Callable[[str], object], object_id: str) -> None:
    try:
        wait(object_id)
    except NotFound:
        return


@volume.command("upload-to-image")
@click.argument("ref")
@click.argument("image_name")
@click.option("--disk-format", default="raw", show_default=True,
              type=click.Choice(["raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "ploop"]))
@click.option("--container-format", default="bare", show_default=True)
@click.option("--force", is_flag=True, help="Upload an in-use volume.")
@_project_option
@_progress_option
@output_options
@deployment_options
@examples("cowshed volume upload-to-image data data-image --disk-format qcow2")
def upload_to_image(ref: str, image_name: str, disk_format: str, container_format: str,
                    force: bool, project: str, show_progress: bool, output: str,
                    columns: tuple[str, ...], data_dir: Path | None,
                    config_file: Path | None) -> None:
    """Make image IMAGE_NAME from the bytes of volume REF (converted to --disk-format)."""
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        vol = find_volume(svc, caller, ref)
        upload = svc.upload_to_image(caller, vol.id, image_name=image_name,
                                     disk_format=disk_format,
                                     container_format=container_format, force=force)
        wait_for(svc, vol.id, f"uploading {vol.name or vol.id}", show_progress,
                 svc.wait_volume)
        show_record({"image_id": upload.image_id, "image_name": upload.image_name,
                     "disk_format": upload.disk_format, "volume_id": vol.id}, output, columns)


@volume.command("lineage")
@click.argument("ref")
@output_options
@_project_option
@deployment_options
@examples("cowshed volume lineage data",
          "cowshed volume lineage data -f csv -c id -c parent")
def lineage(ref: str, output: str, columns: tuple[str, ...], project: str,
            data_dir: Path | None, config_file: Path | None) -> None:
    """Show the copy-on-write tree volume REF belongs to (hidden = deleted, kept for a child).

    The table is the tree; ``-f json`` / ``-f yaml`` the document ``GET …/lineage`` serves;
    ``-f value``/``csv`` (or any ``-c``) one row per node, with its parent's id.
    """
    with _session(data_dir, config_file, project) as (svc, caller):
        tree = svc.lineage(caller, find_volume(svc, caller, ref).id)
    if columns or output in ("value", "csv"):
        show_records(_lineage_rows(tree, None), output, columns)
    elif output != "table":
        show_record(tree.as_dict(), output)
    else:
        from rich.console import Console
        from rich.tree import Tree

        root = Tree(_label(tree))
        _grow(root, tree)
        Console(width=200 if not Console().is_terminal else None).print(root)


def _lineage_rows(node: LineageNode, parent: str | None) -> list[dict[str, Any]]:
    """The tree depth first, one record per node (its ``children`` replaced by ``parent``)."""
    row = {k: v for k, v in node.as_dict().items() if k != "children"} | {"parent": parent}
    return [row, *(r for child in node.children for r in _lineage_rows(child, node.id))]


def _label(node: LineageNode) -> str:
    flags = [x for x, on in (("hidden", node.hidden), ("independent", node.independent)) if on]
    extra = f" [{', '.join(flags)}]" if flags else ""
    return (f"{node.kind} {node.id} {node.name or ''} ({node.status}) "
            f"{node.backend}:{node.backend_ref}{extra}")


def _grow(branch: Tree, node: LineageNode) -> None:
    for child in node.children:
        _grow(branch.add(_label(child)), child)


@click.group(cls=CowshedGroup)
def snapshot() -> None:
    """Manage volume snapshots through the library (no HTTP): create, list, show, delete."""


@snapshot.command("create")
@click.argument("volume_ref")
@click.option("--name", help="Snapshot name.")
@click.option("--description", help="Free text.")
@click.option("--force", is_flag=True, help="Snapshot an in-use volume.")
@_project_option
@output_options
@deployment_options
@examples("cowshed snapshot create data --name data-snap")
def snapshot_create(volume_ref: str, name: str | None, description: str | None, force: bool,
                    project: str, output: str, columns: tuple[str, ...],
                    data_dir: Path | None, config_file: Path | None) -> None:
    """Snapshot volume VOLUME_REF and wait until the snapshot is available."""
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        vol = find_volume(svc, caller, volume_ref)
        snap = svc.snapshot_create(caller, vol.id, name=name, description=description,
                                   force=force)
        show_record(snapshot_record(svc.wait_snapshot(snap.id)), output, columns)


@snapshot.command("list")
@click.option("--volume", "volume_ref", help="Only this volume's snapshots.")
@_project_option
@output_options
@deployment_options
@examples("cowshed snapshot list --volume data")
def snapshot_list(volume_ref: str | None, project: str, output: str, columns: tuple[str, ...],
                  data_dir: Path | None, config_file: Path | None) -> None:
    """List snapshots, newest first."""
    from cowshed.domain.query import Filter

    with _session(data_dir, config_file, project) as (svc, caller):
        query = VolumeQuery(limit=None)
        if volume_ref:
            vid = find_volume(svc, caller, volume_ref).id
            query = dataclasses.replace(query, filters=(Filter("volume_id", "eq", vid),))
        page = svc.snapshot_list(caller, query)
        show_records([snapshot_record(s) for s in page.items], output, columns,
                     SNAPSHOT_COLUMNS)


@snapshot.command("show")
@click.argument("ref")
@_project_option
@output_options
@deployment_options
@examples("cowshed snapshot show data-snap -f json")
def snapshot_show(ref: str, project: str, output: str, columns: tuple[str, ...],
                  data_dir: Path | None, config_file: Path | None) -> None:
    """Show one snapshot (REF: id, name or id prefix)."""
    with _session(data_dir, config_file, project) as (svc, caller):
        show_record(snapshot_record(find_snapshot(svc, caller, ref)), output, columns)


@snapshot.command("delete")
@click.argument("refs", nargs=-1, required=True)
@_project_option
@deployment_options
@examples("cowshed snapshot delete data-snap")
def snapshot_delete(refs: tuple[str, ...], project: str, data_dir: Path | None,
                    config_file: Path | None) -> None:
    """Delete snapshots and wait until they are gone (clones made from one keep their data)."""
    with _session(data_dir, config_file, project, writes=True) as (svc, caller):
        for ref in refs:
            snap = find_snapshot(svc, caller, ref)
            svc.snapshot_delete(caller, snap.id)
            _wait_gone(svc.wait_snapshot, snap.id)
            click.echo(f"Deleted snapshot {snap.id}")
