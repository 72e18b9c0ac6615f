"""Which door an ``image`` command goes through: the library on a data dir, or HTTP.

The rule (docs/cli.md, ``cowshed image``): ``--os-image-url`` or ``--os-auth-url`` on the
command line mean HTTP; else ``--data-dir``/``--config`` on the command line mean the library;
else the openstack CLI's variables ``OS_IMAGE_URL``, ``OS_ENDPOINT`` or ``OS_AUTH_URL`` mean
HTTP; else the library on the default data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from cowshed.cli.common import F, library
from cowshed.cli.image_ops import ImageOps

if TYPE_CHECKING:  # each door is imported when a command opens it (httpx or the library)
    from cowshed.cli.image_http import RemoteImages
    from cowshed.cli.keystone import Credentials


@dataclass(frozen=True)
class Remote:
    """The remote options given to ``cowshed image`` (the openstack CLI's names)."""

    url: str | None
    token: str | None
    credentials: Credentials | None
    on_command_line: bool

    @property
    def active(self) -> bool:
        return bool(self.url or self.credentials)

    def open(self) -> RemoteImages:
        """The HTTP door: ``url`` as given, else the catalog's image endpoint (Keystone)."""
        from cowshed.cli.image_http import RemoteImages
        from cowshed.cli.keystone import login

        token, url = self.token, self.url
        if self.credentials is not None:
            session = login(self.credentials)
            token, url = session.token, url or session.image_url
        assert url is not None
        return RemoteImages(url, token)


#: (option, environment variables, metavar, help), in the order --help lists them.
_REMOTE = (
    ("--os-image-url", ["OS_IMAGE_URL", "OS_ENDPOINT"], "URL",
     "Drive the server at URL over HTTP instead of the library."),
    ("--os-token", ["OS_TOKEN", "OS_AUTH_TOKEN"], "TOKEN", "Token sent as X-Auth-Token."),
    ("--os-auth-url", ["OS_AUTH_URL"], "URL",
     "Keystone v3 (e.g. cowshed's /identity): token and image endpoint from it."),
    ("--os-username", ["OS_USERNAME"], "NAME", "User for password authentication."),
    ("--os-password", ["OS_PASSWORD"], "PASSWORD", "Its password."),
    ("--os-project-name", ["OS_PROJECT_NAME"], "NAME", "Project to scope the token to."),
    ("--os-user-domain-name", ["OS_USER_DOMAIN_NAME"], "NAME", "The user's domain."),
    ("--os-project-domain-name", ["OS_PROJECT_DOMAIN_NAME"], "NAME", "The project's domain."),
    ("--os-region-name", ["OS_REGION_NAME"], "NAME", "Region of the image endpoint."),
    ("--os-interface", ["OS_INTERFACE"], "NAME", "Endpoint interface (default public)."),
)


def remote_options(func: F) -> F:
    """The openstack CLI's connection options (and variables) on the ``image`` group."""
    for flag, env, metavar, text in reversed(_REMOTE):
        func = click.option(flag, envvar=env, default=None, metavar=metavar,
                            help=f"{text} [env: ${' or $'.join(env)}]")(func)
    return func


def remember_remote(options: dict[str, str | None]) -> None:
    """Keep the group's remote options (the click context's params) for its commands."""
    ctx = click.get_current_context()
    given = {k: v or None for k, v in options.items() if k.startswith("os_")}
    credentials = None
    if given.get("os_auth_url"):
        from cowshed.cli.keystone import Credentials

        credentials = Credentials(
            auth_url=str(given["os_auth_url"]), username=given.get("os_username"),
            password=given.get("os_password"), project_name=given.get("os_project_name"),
            user_domain_name=given.get("os_user_domain_name") or "Default",
            project_domain_name=given.get("os_project_domain_name") or "Default",
            token=given.get("os_token"), region_name=given.get("os_region_name"),
            interface=given.get("os_interface") or "public")
    typed = any(ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE
                for k in ("os_image_url", "os_auth_url"))
    ctx.obj = Remote(given.get("os_image_url"), given.get("os_token"), credentials, typed)


def _remote() -> Remote:
    found = click.get_current_context().find_object(Remote)
    return found if found is not None else Remote(None, None, None, False)


@contextmanager
def image_session(data_dir: Path | None, config_file: Path | None, *,
                  writes: bool = False) -> Iterator[ImageOps]:
    """The ImageOps for this command, closed afterwards (see the module docstring)."""
    remote = _remote()
    ctx = click.get_current_context()
    dir_given = ctx.get_parameter_source("data_dir") == ParameterSource.COMMANDLINE
    if remote.active and remote.on_command_line and (dir_given or config_file is not None):
        raise click.UsageError("--os-image-url/--os-auth-url drive a server over HTTP; "
                               "--data-dir and --config name a local deployment: give one "
                               "or the other")
    if remote.active and not dir_given and config_file is None:
        ops: ImageOps = remote.open()
        try:
            yield ops
        finally:
            ops.close()
        return
    from cowshed.cli.image_local import LocalImages

    with library(data_dir, config_file, writes=writes) as services:
        yield LocalImages(services)
