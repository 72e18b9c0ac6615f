"""Who is asking: the request context every service call takes explicitly.

One ASGI middleware (``cowshed.api.auth``) builds it from the configured ``auth_strategy``;
the CLI builds :func:`local_admin` (whoever can read the data dir owns the deployment). Services
never look at HTTP: policy decisions (``cowshed.services.policy``) read only this record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

#: the role names OpenStack's default policies know (Keystone's bootstrap creates them).
ADMIN_ROLE = "admin"
MEMBER_ROLE = "member"
READER_ROLE = "reader"


def new_request_id() -> str:
    """An id in the form OpenStack services log and answer (``x-openstack-request-id``)."""
    return f"req-{uuid.uuid4()}"


@dataclass(frozen=True)
class RequestContext:
    """The caller of one request, as the token (or the noauth setting) says.

    ``project_id`` is the scope that owns what the caller creates; None for an unscoped or
    domain-scoped token, which may only touch identity calls. ``is_admin`` follows the policy's
    ``context_is_admin`` rule (the ``admin`` role by default); an admin sees every project.
    ``expires_at`` is the token's expiry (naive UTC), None when no token is involved.
    """

    user_id: str | None
    project_id: str | None
    roles: frozenset[str]
    is_admin: bool
    request_id: str
    user_name: str | None = None
    project_name: str | None = None
    domain_id: str | None = None
    user_domain_id: str | None = None
    expires_at: datetime | None = None
    #: the audit id of the token that authenticated the request (revocation, logs); no secret.
    audit_id: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles


def local_admin(project_id: str, request_id: str | None = None) -> RequestContext:
    """The context of a caller with the deployment's files in hand (the CLI, the library,
    ``noauth``): admin over every project, creating into ``project_id``."""
    return RequestContext(
        user_id="admin", project_id=project_id,
        roles=frozenset({ADMIN_ROLE, MEMBER_ROLE, READER_ROLE}), is_admin=True,
        request_id=request_id or new_request_id(), user_name="admin", project_name=project_id,
    )
