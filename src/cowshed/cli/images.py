"""``cowshed image …``: create, upload, list, show, download and delete images.

The commands work on the library directly (``open_services``), never over HTTP: they open the
deployment named by ``--data-dir``/``--config`` exactly as ``cowshed serve`` would.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cowshed.cli.common import (
    CowshedGroup,
    deployment_options,
    error_message,
    human_size,
    library,
)
from cowshed.cli.render import format_option, show_image, show_images, transfer_progress
from cowshed.domain.images import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    SETTABLE,
    Image,
    ImageStatus,
    Visibility,
)
from cowshed.domain.query import SORT_KEYS, Filter, ImageQuery
from cowshed.errors import CowshedError
from cowshed.services.app import Services
from cowshed.services.images.files import download_file, download_to, upload_file


@click.group(cls=CowshedGroup)
def image() -> None:
    """Manage images directly through the library (no HTTP).

    Every command opens the deployment given by --data-dir and --config (the same options and
    defaults as `cowshed serve`). Library errors are printed as one `Error:` line and the
    command exits with status 1.
    """


_progress_option = click.option(
    "--progress/--no-progress", "show_progress", default=True, show_default=True,
    help="Show a progress bar on stderr.",
)


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


@image.command()
@deployment_options
@click.option("--name", required=True, help="Image name (need not be unique).")
@click.option("--disk-format", type=click.Choice(DISK_FORMATS), default="raw",
              show_default=True, help="Format of the disk data.")
@click.option("--container-format", type=click.Choice(CONTAINER_FORMATS), default="bare",
              show_default=True, help="Container around the disk data (bare: none).")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              callback=_properties, help="Extra property; repeat for more.")
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
@_progress_option
@format_option
def create(data_dir: Path | None, config_file: Path | None, name: str, disk_format: str,
           container_format: str, properties: dict[str, str], tags: tuple[str, ...],
           visibility: str | None, protected: bool, min_disk: int, min_ram: int,
           file: Path | None, store: str | None, show_progress: bool, output: str) -> None:
    """Create an image record, and with --file upload its data too.

    Prints the image (table, or JSON with --format json).
    """
    body: dict[str, Any] = {
        **properties, "name": name, "disk_format": disk_format,
        "container_format": container_format, "tags": list(tags), "protected": protected,
        "min_disk": min_disk, "min_ram": min_ram,
    }
    if visibility is not None:
        body["visibility"] = visibility
    with library(data_dir, config_file, writes=True) as svc:
        created = svc.images.create(svc.admin_context(), body)
        if file is not None:
            created = _upload_new(svc, created, file, store, show_progress)
    show_image(created, output)


def _upload_new(svc: Services, created: Image, path: Path, store: str | None,
                show_progress: bool) -> Image:
    """Upload into a just-created image; delete the image again if that fails."""
    try:
        return _upload(svc, created.id, path, store, show_progress)
    except BaseException:
        try:
            svc.images.delete(svc.admin_context(), created.id)
        except CowshedError as exc:
            click.echo(f"Warning: image {created.id} was left behind: {error_message(exc)}",
                       err=True)
        raise


def _upload(svc: Services, image_id: str, path: Path, store: str | None,
            show_progress: bool) -> Image:
    size = path.stat().st_size
    with transfer_progress(f"upload {path.name}", size, show_progress) as advance:
        return upload_file(svc.admin_context(), svc.data, image_id, path, store, advance)


@image.command()
@deployment_options
@click.argument("image_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", help="Store to write into (default: the default store).")
@_progress_option
@format_option
def upload(data_dir: Path | None, config_file: Path | None, image_id: str, path: Path,
           store: str | None, show_progress: bool, output: str) -> None:
    """Upload PATH as the data of the queued image IMAGE_ID.

    The data is hashed (md5 and sha512) and format-inspected on the way in; the image becomes
    active only once everything is written. On failure it goes back to queued.
    """
    with library(data_dir, config_file, writes=True) as svc:
        uploaded = _upload(svc, image_id, path, store, show_progress)
    show_image(uploaded, output)


def _sort(ctx: click.Context, param: click.Parameter, value: str,
          ) -> tuple[tuple[str, str], ...]:
    keys: list[tuple[str, str]] = []
    for item in value.split(","):
        key, _, direction = item.strip().partition(":")
        direction = direction or "asc"
        if key not in SORT_KEYS:
            known = ", ".join(sorted(SORT_KEYS))
            raise click.BadParameter(f"unknown sort key {key!r} (known: {known})", ctx, param)
        if direction not in ("asc", "desc"):
            raise click.BadParameter(f"sort direction must be asc or desc, not {direction!r}",
                                     ctx, param)
        keys.append((key, direction))
    return tuple(keys)


@image.command("list")
@deployment_options
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many images.")
@click.option("--name", help="Only images with exactly this name.")
@click.option("--status", type=click.Choice([s.value for s in ImageStatus]),
              help="Only images in this status.")
@click.option("--sort", default="created_at:desc", show_default=True, callback=_sort,
              metavar="KEY[:asc|desc],…", help="Sort keys, e.g. name:asc,size:desc.")
@format_option
def list_images(data_dir: Path | None, config_file: Path | None, limit: int | None,
                name: str | None, status: str | None, sort: tuple[tuple[str, str], ...],
                output: str) -> None:
    """List images with human-readable sizes (every image unless --limit)."""
    filters: list[Filter] = []
    if name is not None:
        filters.append(Filter("name", "eq", name))
    if status is not None:
        filters.append(Filter("status", "eq", status))
    with library(data_dir, config_file) as svc:
        found = _list_all(svc, tuple(filters), sort, limit)
    show_images(found, output)


def _list_all(svc: Services, filters: tuple[Filter, ...], sort: tuple[tuple[str, str], ...],
              limit: int | None) -> list[Image]:
    """Page through the repository until ``limit`` images (None: all) are found."""
    page = svc.settings.api_limit_max
    found: list[Image] = []
    marker: str | None = None
    while limit is None or len(found) < limit:
        want = page if limit is None else min(page, limit - len(found))
        batch = svc.images.list_images(svc.admin_context(), ImageQuery(filters=filters, sort=sort, limit=want,
                                           marker=marker))
        found.extend(batch)
        if len(batch) < want:
            break
        marker = batch[-1].id
    return found


@image.command()
@deployment_options
@click.argument("image_id")
@format_option
def show(data_dir: Path | None, config_file: Path | None, image_id: str, output: str) -> None:
    """Show every field of image IMAGE_ID."""
    with library(data_dir, config_file) as svc:
        found = svc.images.get(svc.admin_context(), image_id)
    show_image(found, output)


@image.command()
@deployment_options
@click.argument("image_id")
@click.option("--file", "dest", required=True,
              type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Where to write the data; '-' writes to stdout (no progress bar).")
@_progress_option
def download(data_dir: Path | None, config_file: Path | None, image_id: str, dest: Path,
             show_progress: bool) -> None:
    """Download the data of IMAGE_ID, checking its size, md5 and sha512.

    The data goes to FILE.part first and is renamed to FILE only once verified, so FILE never
    holds a partial or corrupt image.
    """
    with library(data_dir, config_file) as svc:
        if str(dest) == "-":
            download_to(svc.admin_context(), svc.data, image_id, sys.stdout.buffer)
            return
        size = svc.images.get(svc.admin_context(), image_id).size
        with transfer_progress(f"download {dest.name}", size, show_progress) as advance:
            got = download_file(svc.admin_context(), svc.data, image_id, dest, advance)
    checked = "md5 and " + got.os_hash_algo if got.os_hash_algo else "md5"
    click.echo(f"Saved {dest} ({human_size(got.size)}), {checked} verified.", err=True)


@image.command()
@deployment_options
@click.argument("image_ids", nargs=-1, required=True, metavar="IMAGE_ID…")
def delete(data_dir: Path | None, config_file: Path | None, image_ids: tuple[str, ...]) -> None:
    """Delete images and their data in every store.

    Tries every IMAGE_ID; prints one `Error:` line per failure and exits with status 1 if any
    failed. Protected images are refused.
    """
    failures: list[str] = []
    with library(data_dir, config_file, writes=True) as svc:
        for image_id in image_ids:
            try:
                svc.images.delete(svc.admin_context(), image_id)
            except CowshedError as exc:
                failures.append(error_message(exc))
                continue
            click.echo(f"Deleted {image_id}")
    for message in failures[:-1]:
        click.echo(f"Error: {message}", err=True)
    if failures:
        raise click.ClickException(failures[-1])
