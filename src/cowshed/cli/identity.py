"""``cowshed identity user|project|role …``: the standalone identity, through the library.

Whoever runs these holds the deployment's files, so they act as the local admin (as
``keystone-manage`` does); they work in any ``auth_strategy``, e.g. to prepare users before
switching a deployment to ``standalone``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cowshed.cli.common import CowshedGroup, deployment_options, examples
from cowshed.cli.common import library as open_library
from cowshed.cli.output import output_options, show_record, show_records
from cowshed.domain.identity import Assignment, Project, Role, User

if TYPE_CHECKING:  # the library is imported when a command runs, not by --help
    from cowshed.services.app import Services


@contextmanager
def library(data_dir: Path | None, config_file: Path | None) -> Iterator[Services]:
    """The library, with the roles every deployment has (admin, member, reader) in place."""
    from cowshed.services.identity.bootstrap import ensure_roles

    with open_library(data_dir, config_file) as svc:
        ensure_roles(svc.identity.repo)
        yield svc


def _user(u: User) -> dict[str, Any]:
    return {"id": u.id, "name": u.name, "enabled": u.enabled,
            "default_project_id": u.default_project_id}


def _project(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "enabled": p.enabled, "description": p.description}


def _role(r: Role) -> dict[str, Any]:
    return {"id": r.id, "name": r.name}


@click.group(cls=CowshedGroup)
def identity() -> None:
    """Users, projects and roles of the standalone identity (docs/identity.md)."""


@identity.group(cls=CowshedGroup)
def user() -> None:
    """Users: list, create, set, delete."""


@user.command("list")
@deployment_options
@output_options
@examples("cowshed identity user list",
          "cowshed identity user list -f value -c name")
def user_list(data_dir: Path | None, config_file: Path | None, output: str,
              columns: tuple[str, ...]) -> None:
    """List users."""
    with library(data_dir, config_file) as svc:
        show_records([_user(u) for u in svc.identity.list_users(svc.admin_context())],
                     output, columns)


@user.command("create")
@deployment_options
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The user's password (prompted for if not given).")
@click.option("--project", default=None, help="Default project, name or id.")
@click.option("--role", default=None, help="Also grant this role on --project (e.g. member).")
@output_options
@examples("cowshed identity user create alice --project alpha --role member")
def user_create(data_dir: Path | None, config_file: Path | None, name: str, password: str,
                project: str | None, role: str | None, output: str,
                columns: tuple[str, ...]) -> None:
    """Create a user (and grant it a role on its project)."""
    with library(data_dir, config_file) as svc:
        ctx = svc.admin_context()
        project_id = svc.identity.find_project(ctx, project).id if project else None
        if role and not project_id:
            raise click.UsageError("--role needs --project")
        created = svc.identity.create_user(ctx, name, password, default_project_id=project_id)
        if role and project_id:
            _grant(svc, created.name, project_id, role, add=True)
        show_record(_user(created), output, columns)


@user.command("set")
@deployment_options
@click.argument("name")
@click.option("--password", default=None, help="New password (ends the user's tokens).")
@click.option("--enable/--disable", "enabled", default=None,
              help="Enable or disable the user (disabling ends its tokens).")
@examples("cowshed identity user set alice --password NEW",
          "cowshed identity user set alice --disable")
def user_set(data_dir: Path | None, config_file: Path | None, name: str, password: str | None,
             enabled: bool | None) -> None:
    """Change a user's password or enable/disable it."""
    with library(data_dir, config_file) as svc:
        ctx = svc.admin_context()
        found = svc.identity.find_user(ctx, name)
        from cowshed.services.identity.service import UserChanges

        svc.identity.update_user(ctx, found.id, UserChanges(password=password, enabled=enabled))


@user.command("delete")
@deployment_options
@click.argument("names", nargs=-1, required=True)
@examples("cowshed identity user delete alice")
def user_delete(data_dir: Path | None, config_file: Path | None, names: tuple[str, ...]) -> None:
    """Delete users (their tokens stop working at once)."""
    with library(data_dir, config_file) as svc:
        ctx = svc.admin_context()
        for name in names:
            svc.identity.delete_user(ctx, svc.identity.find_user(ctx, name).id)


@identity.group(cls=CowshedGroup)
def project() -> None:
    """Projects: list, create, set (quotas), delete."""


@project.command("list")
@deployment_options
@output_options
@examples("cowshed identity project list -f json")
def project_list(data_dir: Path | None, config_file: Path | None, output: str,
                 columns: tuple[str, ...]) -> None:
    """List projects."""
    with library(data_dir, config_file) as svc:
        show_records([_project(p) for p in svc.identity.list_projects(svc.admin_context())],
                     output, columns)


@project.command("create")
@deployment_options
@click.argument("name")
@click.option("--description", default="", help="Free text.")
@output_options
@examples("cowshed identity project create alpha --description 'first team'")
def project_create(data_dir: Path | None, config_file: Path | None, name: str,
                   description: str, output: str, columns: tuple[str, ...]) -> None:
    """Create a project."""
    with library(data_dir, config_file) as svc:
        show_record(_project(svc.identity.create_project(svc.admin_context(), name,
                                                         description)), output, columns)


@project.command("set")
@deployment_options
@click.argument("name")
@click.option("--quota", "quotas", multiple=True, metavar="RESOURCE=N",
              help="A project limit: image_count_total, image_size_total (MiB), "
                   "image_stage_total (MiB) or image_count_uploading; N = -1 is unlimited, "
                   "'default' goes back to the setting. Repeatable.")
@output_options
@examples("cowshed identity project set alpha --quota image_count_total=10",
          "cowshed identity project set alpha --quota image_size_total=default")
def project_set(data_dir: Path | None, config_file: Path | None, name: str,
                quotas: tuple[str, ...], output: str, columns: tuple[str, ...]) -> None:
    """Set a project's image quotas; shows its limits and usage."""
    with library(data_dir, config_file) as svc:
        ctx = svc.admin_context()
        found = svc.identity.find_project(ctx, name)
        for item in quotas:
            resource, sep, value = item.partition("=")
            if not sep or not (value == "default" or value.lstrip("-").isdigit()):
                raise click.BadParameter(f"{item!r}: expected RESOURCE=N", param_hint="--quota")
            svc.images.quotas.set_limit(ctx, found.id, resource.strip(),
                                        None if value == "default" else int(value))
        usage = svc.images.quotas.usage(found.id)
        show_records([{"quota": k, "limit": v, "usage": usage.of(k)}
                      for k, v in svc.images.quotas.limits(found.id).items()], output, columns)


@project.command("delete")
@deployment_options
@click.argument("names", nargs=-1, required=True)
@examples("cowshed identity project delete alpha")
def project_delete(data_dir: Path | None, config_file: Path | None,
                   names: tuple[str, ...]) -> None:
    """Delete projects (their role assignments go too; their images stay)."""
    with library(data_dir, config_file) as svc:
        ctx = svc.admin_context()
        for name in names:
            svc.identity.delete_project(ctx, svc.identity.find_project(ctx, name).id)


@identity.group(cls=CowshedGroup)
def role() -> None:
    """Roles: list, add, remove (assignments of a user on a project)."""


@role.command("list")
@deployment_options
@output_options
@examples("cowshed identity role list")
def role_list(data_dir: Path | None, config_file: Path | None, output: str,
              columns: tuple[str, ...]) -> None:
    """List roles."""
    with library(data_dir, config_file) as svc:
        show_records([_role(r) for r in svc.identity.list_roles(svc.admin_context())],
                     output, columns)


def _grant(svc: Services, user_name: str, project: str, role_name: str, add: bool) -> None:
    ctx = svc.admin_context()
    ident = svc.identity
    a = Assignment(user_id=ident.find_user(ctx, user_name).id,
                   role_id=ident.find_role(ctx, role_name).id,
                   project_id=ident.find_project(ctx, project).id)
    (ident.grant if add else ident.revoke_grant)(ctx, a)


@role.command("add")
@deployment_options
@click.argument("role_name", metavar="ROLE")
@click.option("--user", "user_name", required=True, help="User, name or id.")
@click.option("--project", "project_name", required=True, help="Project, name or id.")
@examples("cowshed identity role add reader --user alice --project alpha")
def role_add(data_dir: Path | None, config_file: Path | None, role_name: str, user_name: str,
             project_name: str) -> None:
    """Grant ROLE (admin, member, reader …) to a user on a project."""
    with library(data_dir, config_file) as svc:
        _grant(svc, user_name, project_name, role_name, add=True)


@role.command("remove")
@deployment_options
@click.argument("role_name", metavar="ROLE")
@click.option("--user", "user_name", required=True, help="User, name or id.")
@click.option("--project", "project_name", required=True, help="Project, name or id.")
@examples("cowshed identity role remove reader --user alice --project alpha")
def role_remove(data_dir: Path | None, config_file: Path | None, role_name: str,
                user_name: str, project_name: str) -> None:
    """Take ROLE from a user on a project (its tokens lose it at once)."""
    with library(data_dir, config_file) as svc:
        _grant(svc, user_name, project_name, role_name, add=False)
