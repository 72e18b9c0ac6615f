"""``cowshed image …``: create, upload, list, show, download and delete images.

Each command runs through :class:`~cowshed.cli.image_ops.ImageOps`: the library on a data dir
(no server needed), or a running server over HTTP with ``--os-image-url`` / ``OS_IMAGE_URL``
(see ``image_session``). Images are addressed by id, unique name or unique id prefix. The other
commands (set, unset, tag, deactivate, reactivate, stage, import, stores, task) are in
``image_manage``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cowshed.cli.common import CowshedGroup, deployment_options, error_message, examples, human_size
from cowshed.cli.download import to_file, to_stdout
from cowshed.cli.image_ops import ImageOps, find_image, parse_sort
from cowshed.cli.image_session import image_session, remember_remote, remote_options
from cowshed.cli.output import Record, long_option, output_options, show_record, show_records
from cowshed.cli.render import transfer_progress
from cowshed.domain.images import CONTAINER_FORMATS, DISK_FORMATS, SETTABLE, ImageStatus, Visibility
from cowshed.errors import BackendUnavailable, CowshedError

LIST_COLUMNS = ("id", "name", "status", "disk_format", "size", "visibility")
LONG_COLUMNS = (*LIST_COLUMNS, "container_format", "checksum", "protected", "owner", "tags",
                "stores")


@click.group(cls=CowshedGroup)
@remote_options
def image(os_image_url: str | None, os_token: str | None, os_auth_url: str | None,
          os_username: str | None, os_password: str | None, os_project_name: str | None,
          os_user_domain_name: str | None, os_project_domain_name: str | None,
          os_region_name: str | None, os_interface: str | None) -> None:
    """Manage images: through the library on a data dir, or a server over HTTP.

    Without --os-image-url or --os-auth-url (or the openstack CLI's OS_* variables) every
    command opens the deployment given by --data-dir and --config, as `cowshed serve` would;
    with them, the commands drive that server's Image API. IMAGE is an id, a unique name or a
    unique id prefix. Errors are one `Error:` line and exit status 1.
    """
    remember_remote(click.get_current_context().params)


progress_option = click.option(
    "--progress/--no-progress", "show_progress", default=True, show_default=True,
    help="Show a progress bar on stderr.",
)


def properties_option(func: Any) -> Any:
    return click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
                        callback=_properties, help="Extra property; repeat for more.")(func)


def _properties(ctx: click.Context, param: click.Parameter, values: tuple[str, ...],
                ) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx, param)
        if key in SETTABLE:
            raise click.BadParameter(
                f"{key!r} is an image attribute, not a property; use its own option", ctx, param
            )
        props[key] = value
    return props


def for_table(record: Record) -> Record:
    """Sizes for people (``9.0 MiB (9437184 bytes)``), properties one per line."""
    shown = dict(record)
    for key in ("size", "virtual_size"):
        if shown.get(key) is not None:
            shown[key] = f"{human_size(shown[key])} ({shown[key]} bytes)"
    shown["tags"] = ", ".join(record["tags"])
    shown["stores"] = ", ".join(record["stores"])
    shown["properties"] = "\n".join(f"{k}={v}" for k, v in sorted(record["properties"].items()))
    return shown


def show_image(record: Record, output: str, columns: tuple[str, ...]) -> None:
    show_record(for_table(record) if output == "table" else record, output, columns)


@image.command()
@deployment_options
@click.option("--name", required=True, help="Image name (need not be unique).")
@click.option("--disk-format", type=click.Choice(DISK_FORMATS), default="raw",
              show_default=True, help="Format of the disk data.")
@click.option("--container-format", type=click.Choice(CONTAINER_FORMATS), default="bare",
              show_default=True, help="Container around the disk data (bare: none).")
@properties_option
@click.option("--tag", "tags", multiple=True, help="Tag; repeat for more.")
@click.option("--visibility", type=click.Choice([v.value for v in Visibility]),
              help="Who may see the image (default: shared).")
@click.option("--protected", is_flag=True, help="Refuse deletion until unprotected.")
@click.option("--min-disk", type=click.IntRange(min=0), default=0, show_default=True,
              help="Minimum disk size to boot the image, GiB.")
@click.option("--min-ram", type=click.IntRange(min=0), default=0, show_default=True,
              help="Minimum RAM to boot the image, MiB.")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Upload this file right away; if the upload fails the image is deleted.")
@click.option("--store", help="Store to upload --file into (default: the default store).")
@progress_option
@output_options
@examples("cowshed image create --name cirros --disk-format qcow2 --file cirros.img",
          "cowshed image create --name empty --property os_distro=cirros --tag small -f json")
def create(data_dir: Path | None, config_file: Path | None, name: str, disk_format: str,
           container_format: str, properties: dict[str, str], tags: tuple[str, ...],
           visibility: str | None, protected: bool, min_disk: int, min_ram: int,
           file: Path | None, store: str | None, show_progress: bool, output: str,
           columns: tuple[str, ...]) -> None:
    """Create an image record, and with --file upload its data too."""
    body: dict[str, Any] = {
        **properties, "name": name, "disk_format": disk_format,
        "container_format": container_format, "tags": list(tags), "protected": protected,
        "min_disk": min_disk, "min_ram": min_ram,
    }
    if visibility is not None:
        body["visibility"] = visibility
    with image_session(data_dir, config_file, writes=True) as ops:
        created = ops.create(body)
        if file is not None:
            created = _upload_new(ops, created, file, store, show_progress)
    show_image(created, output, columns)


def _upload_new(ops: ImageOps, created: Record, path: Path, store: str | None,
                show_progress: bool) -> Record:
    """Upload into a just-created image; delete the image again if that fails."""
    try:
        return _upload(ops, created["id"], path, store, show_progress)
    except BaseException:
        try:
            ops.delete(created["id"])
        except CowshedError as exc:
            click.echo(f"Warning: image {created['id']} was left behind: {error_message(exc)}",
                       err=True)
        raise


def _upload(ops: ImageOps, image_id: str, path: Path, store: str | None,
            show_progress: bool) -> Record:
    size = path.stat().st_size
    with transfer_progress(f"upload {path.name}", size, show_progress) as advance:
        return ops.upload(image_id, path, store, advance)


@image.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", help="Store to write into (default: the default store).")
@progress_option
@output_options
@examples("cowshed image upload cirros cirros-0.6.2-x86_64-disk.img")
def upload(data_dir: Path | None, config_file: Path | None, ref: str, path: Path,
           store: str | None, show_progress: bool, output: str,
           columns: tuple[str, ...]) -> None:
    """Upload PATH as the data of the queued image IMAGE.

    The data is hashed (md5 and sha512) and format-inspected on the way in; the image becomes
    active only once everything is written. On failure it goes back to queued.
    """
    with image_session(data_dir, config_file, writes=True) as ops:
        uploaded = _upload(ops, find_image(ops, ref)["id"], path, store, show_progress)
    show_image(uploaded, output, columns)


def _sort(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_sort(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


@image.command("list")
@deployment_options
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many images.")
@click.option("--name", help="Only images with exactly this name.")
@click.option("--status", type=click.Choice([s.value for s in ImageStatus]),
              help="Only images in this status.")
@click.option("--sort", default="created_at:desc", show_default=True, callback=_sort,
              metavar="KEY[:asc|desc],…", help="Sort keys, e.g. name:asc,size:desc.")
@long_option
@output_options
@examples("cowshed image list --status active --sort name:asc --limit 20",
          "cowshed image list --long", "cowshed image list -f value -c id -c name")
def list_images(data_dir: Path | None, config_file: Path | None, limit: int | None,
                name: str | None, status: str | None, sort: str, long: bool, output: str,
                columns: tuple[str, ...]) -> None:
    """List images (every one unless --limit), newest first."""
    filters = {k: v for k, v in (("name", name), ("status", status)) if v is not None}
    with image_session(data_dir, config_file) as ops:
        found = ops.list_images(filters, sort, limit)
    if output == "table":
        found = [{**r, "size": human_size(r["size"]), "tags": ", ".join(r["tags"]),
                  "stores": ", ".join(r["stores"])} for r in found]
    show_records(found, output, columns, LONG_COLUMNS if long else LIST_COLUMNS)


@image.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@output_options
@examples("cowshed image show cirros", "cowshed image show 0b5d -f json",
          "cowshed image show cirros -f value -c checksum")
def show(data_dir: Path | None, config_file: Path | None, ref: str, output: str,
         columns: tuple[str, ...]) -> None:
    """Show every field of IMAGE."""
    with image_session(data_dir, config_file) as ops:
        found = find_image(ops, ref)
    show_image(found, output, columns)


@image.command()
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.option("--file", "dest", required=True,
              type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Where to write the data; '-' writes to stdout (no progress bar).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted download from FILE.part.")
@progress_option
@examples("cowshed image download cirros --file cirros.qcow2",
          "cowshed image download cirros --file cirros.qcow2 --resume",
          "cowshed image download cirros --file - | sha512sum")
def download(data_dir: Path | None, config_file: Path | None, ref: str, dest: Path,
             force: bool, resume: bool, show_progress: bool) -> None:
    """Download the data of IMAGE, checking its size, md5 and sha512.

    The data goes to FILE.part and is renamed to FILE only once verified; all-zero regions
    stay holes (a sparse image stays sparse). An interrupted download keeps FILE.part for
    --resume. An existing FILE is kept unless --force.
    """
    with image_session(data_dir, config_file) as ops:
        record = find_image(ops, ref)
        if str(dest) == "-":
            to_stdout(ops, record, lambda _: None)
            return
        with transfer_progress(f"download {dest.name}", record.get("size"),
                               show_progress) as advance:
            try:
                saved = to_file(ops, record, dest, force=force, resume=resume, advance=advance)
            except (KeyboardInterrupt, BackendUnavailable, OSError):
                _hint_resume(dest)  # an interruption, not bad data: the part is worth keeping
                raise
    resumed = f", resumed at {human_size(saved.resumed_from)}" if saved.resumed_from else ""
    click.echo(f"Saved {dest} ({human_size(saved.size)}{resumed}), {saved.verified} verified.",
               err=True)


def _hint_resume(dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    if part.exists() and part.stat().st_size:
        click.echo(f"{part} kept: run the same command with --resume to continue.", err=True)


@image.command()
@deployment_options
@click.argument("refs", nargs=-1, required=True, metavar="IMAGE…")
@examples("cowshed image delete cirros", "cowshed image delete 0b5d 7f3a")
def delete(data_dir: Path | None, config_file: Path | None, refs: tuple[str, ...]) -> None:
    """Delete images and their data in every store.

    Tries every IMAGE; prints one `Error:` line per failure and exits with status 1 if any
    failed. Protected images are refused.
    """
    failures: list[str] = []
    with image_session(data_dir, config_file, writes=True) as ops:
        for ref in refs:
            try:
                image_id = find_image(ops, ref)["id"]
                ops.delete(image_id)
            except CowshedError as exc:
                failures.append(error_message(exc))
                continue
            click.echo(f"Deleted {image_id}")
    for message in failures[:-1]:
        click.echo(f"Error: {message}", err=True)
    if failures:
        raise click.ClickException(failures[-1])
