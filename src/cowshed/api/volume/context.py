"""Who is asking, at which microversion, and under which public URL.

Until the identity service is wired in, credentials follow Cinder's ``noauth`` middleware
(``cinder/api/middleware/auth.py`` ``NoAuthMiddleware``): the token ``user:project`` (or a bare
``user``, which is also the project) names the caller, and every caller is an admin. The project
in the URL (``/v3/{project_id}/…``) wins over the token's. ``caller()`` is the one place that
builds the context, so an authenticating middleware can replace it without touching a handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from cowshed.api.volume.microversion import Version
from cowshed.domain.volumes import Caller

#: the project of a request that names none (no project in the URL, no token).
DEFAULT_PROJECT = "admin"
#: scope key under which the volume API's middleware leaves the per-request facts.
SCOPE_KEY = "cowshed.volume"


@dataclass(frozen=True)
class VolumeRequest:
    """Per-request facts the middleware derives once, before routing."""

    version: Version
    request_id: str
    #: ``scheme://host[:port]/volume``: where the API lives for this client.
    public_root: str
    #: the project id as it appeared in the URL, or "" for the project-less form.
    url_project: str
    caller: Caller

    @property
    def project_id(self) -> str:
        return self.caller.project_id

    @property
    def api_base(self) -> str:
        """``…/volume/v3[/project]``: the prefix every self and next link starts with."""
        project = f"/{self.url_project}" if self.url_project else ""
        return f"{self.public_root}/v3{project}"

    @property
    def bookmark_base(self) -> str:
        """``…/volume[/project]``: Cinder's version-less bookmark prefix."""
        project = f"/{self.url_project}" if self.url_project else ""
        return f"{self.public_root}{project}"


#: where an authenticating middleware in front of every API leaves its request context.
CONTEXT_KEY = "cowshed.context"


def from_context(ctx: Any) -> Caller:
    """The caller an authenticating middleware found (anything with ``project_id``,
    ``user_id`` and ``is_admin``, e.g. a RequestContext): its project, not the URL's, is the
    one acted for, as in Cinder with Keystone."""
    return Caller(project_id=ctx.project_id or DEFAULT_PROJECT, user_id=ctx.user_id,
                  is_admin=bool(ctx.is_admin))


def caller(token: str | None, url_project: str) -> Caller:
    """The noauth caller for ``X-Auth-Token`` and the project named in the URL."""
    user, _, project = (token or "").partition(":")
    user = user.strip()
    project = url_project or project.strip() or user or DEFAULT_PROJECT
    return Caller(project_id=project, user_id=user or project, is_admin=True)


def volume_request(request: Request) -> VolumeRequest:
    facts: VolumeRequest = request.scope[SCOPE_KEY]
    return facts
