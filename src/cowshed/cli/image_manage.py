"""``cowshed image set/unset/tag/deactivate/reactivate/stage/import/stores/task/member``.

The rest of ``openstack image …`` for the Image API, on the same two doors as ``images``: the
library on a data dir, or a server over HTTP. Importing this module adds these commands to the
``image`` group of ``images``, so ``image`` taken from here (as cli/main.py does) is the whole
``cowshed image``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cowshed.cli.common import CowshedGroup, deployment_options, examples
from cowshed.cli.image_members import member
from cowshed.cli.image_ops import find_image, wait_for_import
from cowshed.cli.image_session import image_session
from cowshed.cli.images import image, progress_option, properties_option, show_image
from cowshed.cli.output import output_options, show_record, show_records
from cowshed.cli.render import transfer_progress
from cowshed.domain.images import CONTAINER_FORMATS, DISK_FORMATS, Visibility

IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")
STORE_COLUMNS = ("id", "description", "default", "type", "weight")
TASK_COLUMNS = ("id", "type", "status", "image_id", "updated_at", "message")


def _replace(path: str, value: object) -> dict[str, Any]:
    return {"op": "replace", "path": f"/{path}", "value": value}


@click.command("set")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.option("--name", help="New name.")
@click.option("--disk-format", type=click.Choice(DISK_FORMATS),
              help="Disk format (only while the image is queued).")
@click.option("--container-format", type=click.Choice(CONTAINER_FORMATS),
              help="Container format (only while the image is queued).")
@click.option("--min-disk", type=click.IntRange(min=0), help="Minimum disk size, GiB.")
@click.option("--min-ram", type=click.IntRange(min=0), help="Minimum RAM, MiB.")
@click.option("--visibility", type=click.Choice([v.value for v in Visibility]),
              help="Who may see the image.")
@click.option("--protected/--unprotected", default=None,
              help="Refuse (or allow again) deletion.")
@click.option("--hidden/--unhidden", "os_hidden", default=None,
              help="Hide the image from default lists (os_hidden).")
@properties_option
@click.option("--tag", "tags", multiple=True, help="Add a tag; repeat for more.")
@output_options
@examples("cowshed image set cirros --min-disk 1 --min-ram 64 --property os_distro=cirros",
          "cowshed image set cirros --protected --visibility public --tag small")
def set_image(data_dir: Path | None, config_file: Path | None, ref: str, name: str | None,
              disk_format: str | None, container_format: str | None, min_disk: int | None,
              min_ram: int | None, visibility: str | None, protected: bool | None,
              os_hidden: bool | None, properties: dict[str, str], tags: tuple[str, ...],
              output: str, columns: tuple[str, ...]) -> None:
    """Change attributes, properties and tags of IMAGE (one JSON-patch request)."""
    attrs = {"name": name, "disk_format": disk_format, "container_format": container_format,
             "min_disk": min_disk, "min_ram": min_ram, "visibility": visibility,
             "protected": protected, "os_hidden": os_hidden}
    ops = [_replace(k, v) for k, v in attrs.items() if v is not None]
    ops += [{"op": "add", "path": f"/{k}", "value": v} for k, v in properties.items()]
    with image_session(data_dir, config_file, writes=True) as images:
        image_id = find_image(images, ref)["id"]
        record = images.update(image_id, ops) if ops else images.get(image_id)
        for name_ in tags:
            images.add_tag(image_id, name_)
        if tags:
            record = images.get(image_id)
    show_image(record, output, columns)


@click.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.option("--property", "keys", multiple=True, metavar="KEY",
              help="Remove this property; repeat for more.")
@click.option("--tag", "tags", multiple=True, help="Remove this tag; repeat for more.")
@output_options
@examples("cowshed image unset cirros --property os_distro --tag small")
def unset(data_dir: Path | None, config_file: Path | None, ref: str, keys: tuple[str, ...],
          tags: tuple[str, ...], output: str, columns: tuple[str, ...]) -> None:
    """Remove properties and tags from IMAGE."""
    with image_session(data_dir, config_file, writes=True) as images:
        image_id = find_image(images, ref)["id"]
        if keys:
            images.update(image_id, [{"op": "remove", "path": f"/{k}"} for k in keys])
        for name in tags:
            images.remove_tag(image_id, name)
        record = images.get(image_id)
    show_image(record, output, columns)


@click.group(cls=CowshedGroup)
def tag() -> None:
    """Add or remove tags."""


@tag.command("add")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("tags", nargs=-1, required=True, metavar="TAG…")
@examples("cowshed image tag add cirros small tested")
def tag_add(data_dir: Path | None, config_file: Path | None, ref: str,
            tags: tuple[str, ...]) -> None:
    """Add TAGs to IMAGE (adding a tag it has is no error)."""
    with image_session(data_dir, config_file, writes=True) as images:
        image_id = find_image(images, ref)["id"]
        for name in tags:
            images.add_tag(image_id, name)


@tag.command("remove")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("tags", nargs=-1, required=True, metavar="TAG…")
@examples("cowshed image tag remove cirros tested")
def tag_remove(data_dir: Path | None, config_file: Path | None, ref: str,
               tags: tuple[str, ...]) -> None:
    """Remove TAGs from IMAGE (a tag it lacks is an error)."""
    with image_session(data_dir, config_file, writes=True) as images:
        image_id = find_image(images, ref)["id"]
        for name in tags:
            images.remove_tag(image_id, name)


@click.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@examples("cowshed image deactivate cirros")
def deactivate(data_dir: Path | None, config_file: Path | None, ref: str) -> None:
    """Deactivate IMAGE: no downloads (except by admins) until reactivated."""
    with image_session(data_dir, config_file, writes=True) as images:
        images.deactivate(find_image(images, ref)["id"])


@click.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@examples("cowshed image reactivate cirros")
def reactivate(data_dir: Path | None, config_file: Path | None, ref: str) -> None:
    """Reactivate a deactivated IMAGE."""
    with image_session(data_dir, config_file, writes=True) as images:
        images.reactivate(find_image(images, ref)["id"])


@click.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@progress_option
@examples("cowshed image stage cirros cirros.img",
          "cowshed image import cirros --method glance-direct")
def stage(data_dir: Path | None, config_file: Path | None, ref: str, path: Path,
          show_progress: bool) -> None:
    """Stage PATH as the data of IMAGE for a later glance-direct import."""
    with image_session(data_dir, config_file, writes=True) as images:
        image_id = find_image(images, ref)["id"]
        with transfer_progress(f"stage {path.name}", path.stat().st_size,
                               show_progress) as advance:
            images.stage(image_id, path, advance)


@click.command("import")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.option("--method", type=click.Choice(IMPORT_METHODS), required=True,
              help="glance-direct (staged data), web-download (--uri) or copy-image.")
@click.option("--uri", help="web-download: the URL to fetch.")
@click.option("--store", "stores_", multiple=True, metavar="STORE",
              help="Import into this store; repeat for more (default: the default store).")
@click.option("--all-stores", is_flag=True, help="Import into every store.")
@click.option("--allow-failure", is_flag=True,
              help="With several stores: succeed if at least one store got the data.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the import to end (always, on a data dir: it runs in this "
                   "process).")
@output_options
@examples("cowshed image import cirros --method web-download --uri https://example.org/c.img",
          "cowshed image import cirros --method copy-image --store ceph")
def import_image(data_dir: Path | None, config_file: Path | None, ref: str, method: str,
                 uri: str | None, stores_: tuple[str, ...], all_stores: bool,
                 allow_failure: bool, wait: bool, output: str, columns: tuple[str, ...]) -> None:
    """Import data into IMAGE with one of Glance's import methods; prints the image."""
    if (method == "web-download") != (uri is not None):
        raise click.UsageError("--uri goes with --method web-download, and only with it")
    body: dict[str, Any] = {"method": {"name": method, **({"uri": uri} if uri else {})}}
    if stores_:
        body["stores"] = list(stores_)
    if all_stores:
        body["all_stores"] = True
    if allow_failure:
        body["all_stores_must_succeed"] = False
    with image_session(data_dir, config_file, writes=True) as images:
        image_id = find_image(images, ref)["id"]
        images.start_import(image_id, body)
        local = not images.where.startswith("http")
        record = wait_for_import(images, image_id) if wait or local else images.get(image_id)
    show_image(record, output, columns)


@click.command()
@deployment_options
@output_options
@examples("cowshed image stores", "cowshed image stores -f value -c id")
def stores(data_dir: Path | None, config_file: Path | None, output: str,
           columns: tuple[str, ...]) -> None:
    """List the stores images can be written to (the default one marked)."""
    with image_session(data_dir, config_file) as images:
        found = images.stores()
    show_records(found, output, columns, STORE_COLUMNS)


@click.group(cls=CowshedGroup)
def task() -> None:
    """Show import tasks."""


@task.command("list")
@deployment_options
@click.argument("ref", metavar="[IMAGE]", required=False)
@output_options
@examples("cowshed image task list", "cowshed image task list cirros")
def task_list(data_dir: Path | None, config_file: Path | None, ref: str | None, output: str,
              columns: tuple[str, ...]) -> None:
    """List tasks, newest first: every one, or the import tasks of IMAGE."""
    with image_session(data_dir, config_file) as images:
        found = images.all_tasks() if ref is None else \
            images.tasks(find_image(images, ref)["id"])
    show_records(found, output, columns, TASK_COLUMNS)


@task.command("show")
@deployment_options
@click.argument("task_id")
@output_options
@examples("cowshed image task show 6a1c…")
def task_show(data_dir: Path | None, config_file: Path | None, task_id: str, output: str,
              columns: tuple[str, ...]) -> None:
    """Show one task: its input, status, message and result."""
    with image_session(data_dir, config_file) as images:
        found = images.task(task_id)
    show_record(found, output, columns)


for _command in (set_image, unset, tag, deactivate, reactivate, stage, import_image, stores,
                 task, member):
    image.add_command(_command)
