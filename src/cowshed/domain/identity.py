"""Records of the standalone identity: users, projects, roles, role assignments, tokens.

Keystone v3's model, cut to what a storage service needs: one domain (``default``, named
``Default``), projects in it, users in it, global roles, and role assignments of a user on a
project or on the domain. ``admin`` implies ``member`` implies ``reader`` (Keystone's bootstrap
creates the same implied roles), so a token lists every role the caller effectively has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cowshed.domain.context import ADMIN_ROLE, MEMBER_ROLE, READER_ROLE
from cowshed.errors import InvalidRequest

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
#: role → the roles it implies (transitively expanded by :func:`effective_roles`).
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {ADMIN_ROLE: (MEMBER_ROLE,), MEMBER_ROLE: (READER_ROLE,)}
BOOTSTRAP_ROLES = (ADMIN_ROLE, MEMBER_ROLE, READER_ROLE)
#: names are Keystone's 255 characters, printable, no surrounding blanks.
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    domain_id: str
    description: str
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: str
    name: str
    domain_id: str
    enabled: bool
    default_project_id: str | None
    email: str | None
    #: tokens issued before this instant are invalid (password change, disable, revoke-all).
    tokens_valid_after: datetime | None
    created_at: datetime
    #: the KDF hash of the password (services/identity/passwords.py); never leaves services.
    password_hash: str | None = None


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Assignment:
    """``user_id`` holds ``role_id`` on a project (``project_id``) or on the domain."""

    user_id: str
    role_id: str
    project_id: str | None = None
    domain_id: str | None = None


@dataclass(frozen=True)
class TokenData:
    """What a token says, once its signature and expiry are checked (roles are looked up at
    validation time, so a removed role takes effect at once)."""

    user_id: str
    project_id: str | None
    domain_id: str | None
    methods: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    audit_id: str
    #: the audit id of the token this one was made from (token method), else None.
    parent_audit_id: str | None = None

    @property
    def audit_ids(self) -> list[str]:
        return [self.audit_id] + ([self.parent_audit_id] if self.parent_audit_id else [])


def effective_roles(names: set[str]) -> frozenset[str]:
    """``names`` plus every role they imply."""
    out = set(names)
    todo = list(names)
    while todo:
        for implied in IMPLIED_ROLES.get(todo.pop(), ()):
            if implied not in out:
                out.add(implied)
                todo.append(implied)
    return frozenset(out)


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name != name.strip():
        raise InvalidRequest(f"Invalid {kind} name: it must be 1 to 255 printable characters "
                             "without leading or trailing blanks.")
    return name
