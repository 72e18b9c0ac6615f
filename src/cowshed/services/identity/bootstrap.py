"""First start of the standalone identity: roles, the admin project and the admin user.

Idempotent and safe to run from several processes at once (what another created first is
simply used). The admin's password is ``admin_password`` (env ``COWSHED_ADMIN_PASSWORD``); when
that is empty a random one is generated, logged once, and written with an ``openrc`` to
``<data_dir>/openrc`` (mode 0600). An existing admin's password is never changed here: use
``cowshed identity user set admin --password …``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from cowshed.config import Settings
from cowshed.db.identity import IdentityRepository
from cowshed.domain.clock import utcnow
from cowshed.domain.context import ADMIN_ROLE
from cowshed.domain.identity import (
    BOOTSTRAP_ROLES,
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    Assignment,
    Project,
    Role,
    User,
)
from cowshed.errors import AlreadyExists, NotFound
from cowshed.services.identity.passwords import hash_password
from cowshed.services.identity.service import new_id

log = logging.getLogger("cowshed.identity")


@dataclass(frozen=True)
class BootstrapResult:
    admin: User
    project: Project
    #: the generated password, when this run created the admin without a configured one.
    generated_password: str | None = None
    openrc: Path | None = None


def ensure_roles(repo: IdentityRepository) -> dict[str, Role]:
    """The roles every deployment has (admin, member, reader), created if missing."""
    return {name: _role(repo, name) for name in BOOTSTRAP_ROLES}


def bootstrap(repo: IdentityRepository, settings: Settings, auth_url: str) -> BootstrapResult:
    roles = ensure_roles(repo)
    project = _project(repo, settings.admin_project)
    generated = None
    try:
        admin = repo.user_by_name(settings.admin_user, DEFAULT_DOMAIN_ID)
    except NotFound:
        password = settings.admin_password or secrets.token_urlsafe(18)
        generated = None if settings.admin_password else password
        admin = User(id=new_id(), name=settings.admin_user, domain_id=DEFAULT_DOMAIN_ID,
                     enabled=True, default_project_id=project.id, email=None,
                     tokens_valid_after=None, created_at=utcnow(),
                     password_hash=hash_password(password))
        try:
            repo.insert_user(admin)
        except AlreadyExists:  # another process won the race: its admin it is
            admin, generated = repo.user_by_name(settings.admin_user, DEFAULT_DOMAIN_ID), None
    repo.add_assignment(Assignment(admin.id, roles[ADMIN_ROLE].id, project_id=project.id))
    repo.add_assignment(Assignment(admin.id, roles[ADMIN_ROLE].id, domain_id=DEFAULT_DOMAIN_ID))
    openrc = None
    if generated is not None:
        openrc = write_openrc(settings, auth_url, generated)
        log.warning("created the admin user %r of project %r with the generated password %s "
                    "(printed once; also in %s)", admin.name, project.name, generated, openrc)
    return BootstrapResult(admin, project, generated, openrc)


def _role(repo: IdentityRepository, name: str) -> Role:
    try:
        return repo.role_by_name(name)
    except NotFound:
        pass
    with contextlib.suppress(AlreadyExists):
        repo.insert_role(Role(id=new_id(), name=name, description=""))
    return repo.role_by_name(name)


def _project(repo: IdentityRepository, name: str) -> Project:
    try:
        return repo.project_by_name(name, DEFAULT_DOMAIN_ID)
    except NotFound:
        pass
    with contextlib.suppress(AlreadyExists):
        repo.insert_project(Project(id=new_id(), name=name, domain_id=DEFAULT_DOMAIN_ID,
                                    description="Bootstrap project", enabled=True,
                                    created_at=utcnow()))
    return repo.project_by_name(name, DEFAULT_DOMAIN_ID)


def write_openrc(settings: Settings, auth_url: str, password: str) -> Path:
    """``<data_dir>/openrc`` for the admin, written with mode 0600 from the start."""
    path = settings.data_dir / "openrc"
    lines = {
        "OS_AUTH_TYPE": "password", "OS_AUTH_URL": auth_url, "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": settings.admin_user, "OS_PASSWORD": password,
        "OS_PROJECT_NAME": settings.admin_project, "OS_USER_DOMAIN_NAME": DEFAULT_DOMAIN_NAME,
        "OS_PROJECT_DOMAIN_NAME": DEFAULT_DOMAIN_NAME, "OS_REGION_NAME": settings.region_name,
    }
    text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in lines.items())
    tmp = path.with_name(".openrc.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)
    return path
