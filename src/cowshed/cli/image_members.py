"""``cowshed image member list/add/set/remove``: sharing an image with other projects.

Glance's image members: the owner of a ``shared`` image adds a project as a member (status
``pending``); the member project accepts or rejects it (``set``). On a data dir the command
acts as the deployment's admin, which may do both.
"""

from __future__ import annotations

from pathlib import Path

import click

from cowshed.cli.common import CowshedGroup, deployment_options, examples
from cowshed.cli.image_ops import find_image
from cowshed.cli.image_session import image_session
from cowshed.cli.output import output_options, show_record, show_records

MEMBER_COLUMNS = ("image_id", "member_id", "status", "updated_at")
STATUSES = ("accepted", "rejected", "pending")


@click.group(cls=CowshedGroup)
def member() -> None:
    """Share an image with other projects (shared visibility)."""


@member.command("list")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@output_options
@examples("cowshed image member list cirros")
def member_list(data_dir: Path | None, config_file: Path | None, ref: str, output: str,
                columns: tuple[str, ...]) -> None:
    """List the member projects of IMAGE and their statuses."""
    with image_session(data_dir, config_file) as images:
        found = images.members(find_image(images, ref)["id"])
    show_records(found, output, columns, MEMBER_COLUMNS)


@member.command("add")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("project")
@output_options
@examples("cowshed image member add cirros 5f1c0c9d4e7a4a0c8e1f2b3c4d5e6f70")
def member_add(data_dir: Path | None, config_file: Path | None, ref: str, project: str,
               output: str, columns: tuple[str, ...]) -> None:
    """Share IMAGE (visibility shared) with PROJECT; the member starts as pending."""
    with image_session(data_dir, config_file, writes=True) as images:
        added = images.add_member(find_image(images, ref)["id"], project)
    show_record(added, output, columns)


@member.command("set")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("project")
@click.option("--status", type=click.Choice(STATUSES), required=True,
              help="The member's answer: accepted, rejected or pending.")
@output_options
@examples("cowshed image member set cirros 5f1c0c9d4e7a4a0c8e1f2b3c4d5e6f70 --status accepted")
def member_set(data_dir: Path | None, config_file: Path | None, ref: str, project: str,
               status: str, output: str, columns: tuple[str, ...]) -> None:
    """Accept, reject or return to pending PROJECT's membership of IMAGE."""
    with image_session(data_dir, config_file, writes=True) as images:
        changed = images.set_member(find_image(images, ref)["id"], project, status)
    show_record(changed, output, columns)


@member.command("remove")
@deployment_options
@click.argument("ref", metavar="IMAGE")
@click.argument("project")
@examples("cowshed image member remove cirros 5f1c0c9d4e7a4a0c8e1f2b3c4d5e6f70")
def member_remove(data_dir: Path | None, config_file: Path | None, ref: str,
                  project: str) -> None:
    """Stop sharing IMAGE with PROJECT."""
    with image_session(data_dir, config_file, writes=True) as images:
        images.remove_member(find_image(images, ref)["id"], project)
