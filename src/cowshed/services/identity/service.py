"""Users, projects, roles and role assignments of the standalone identity.

Each call takes the caller's context and asks the ``identity:*`` policy rules: managing
users, projects, roles and assignments is for admins; a user may read itself, list its own
projects and change its own password.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cowshed.db.identity import IdentityRepository, target_key
from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.identity import (
    DEFAULT_DOMAIN_ID,
    Assignment,
    Project,
    Role,
    User,
    check_name,
)
from cowshed.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from cowshed.services.identity.passwords import MAX_PASSWORD, hash_password, verify_password
from cowshed.services.policy import Policy


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class UserChanges:
    """``PATCH /v3/users/{id}``: the fields given (None: leave as it is)."""

    name: str | None = None
    password: str | None = None
    enabled: bool | None = None
    email: str | None = None
    default_project_id: str | None = None


def check_password(password: object) -> str:
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD:
        raise InvalidRequest(f"Invalid password: a string of 1 to {MAX_PASSWORD} characters.")
    return password


class IdentityService:
    def __init__(self, repo: IdentityRepository, policy: Policy) -> None:
        self.repo = repo
        self.policy = policy

    def _admin(self, ctx: RequestContext) -> None:
        self.policy.enforce("identity:admin_required", ctx, {})

    def _about_user(self, ctx: RequestContext, rule: str, user_id: str) -> None:
        self.policy.enforce(rule, ctx, {"target.user.id": user_id})

    # -- projects --------------------------------------------------------------------------

    def create_project(self, ctx: RequestContext, name: str, description: str = "",
                       enabled: bool = True, domain_id: str = DEFAULT_DOMAIN_ID) -> Project:
        self._admin(ctx)
        check_domain(domain_id)
        project = Project(id=new_id(), name=check_name("project", name), domain_id=domain_id,
                          description=description, enabled=enabled, created_at=utcnow())
        self.repo.insert_project(project)
        return project

    def get_project(self, ctx: RequestContext, project_id: str) -> Project:
        if ctx.project_id != project_id:
            self._admin(ctx)
        return self.repo.get_project(project_id)

    def find_project(self, ctx: RequestContext, name_or_id: str) -> Project:
        self._admin(ctx)
        try:
            return self.repo.get_project(name_or_id)
        except NotFound:
            return self.repo.project_by_name(name_or_id, DEFAULT_DOMAIN_ID)

    def list_projects(self, ctx: RequestContext, **filters: object) -> list[Project]:
        self._admin(ctx)
        return self.repo.list_projects(**filters)

    def update_project(self, ctx: RequestContext, project_id: str,
                       values: Mapping[str, object]) -> Project:
        self._admin(ctx)
        if "name" in values:
            check_name("project", values["name"])
        self.repo.update_project(project_id, **values)
        return self.repo.get_project(project_id)

    def delete_project(self, ctx: RequestContext, project_id: str) -> None:
        self._admin(ctx)
        self.repo.delete_project(project_id)

    def user_projects(self, ctx: RequestContext, user_id: str) -> list[Project]:
        """The projects ``user_id`` holds any role on."""
        self._about_user(ctx, "identity:list_user_projects", user_id)
        ids = {a.project_id for a in self.repo.list_assignments(user_id=user_id) if a.project_id}
        return [p for p in self.repo.list_projects() if p.id in ids]

    # -- users -----------------------------------------------------------------------------

    def create_user(self, ctx: RequestContext, name: str, password: str | None = None,
                    enabled: bool = True, email: str | None = None,
                    default_project_id: str | None = None,
                    domain_id: str = DEFAULT_DOMAIN_ID) -> User:
        self._admin(ctx)
        check_domain(domain_id)
        if default_project_id is not None:
            self.repo.get_project(default_project_id)
        user = User(
            id=new_id(), name=check_name("user", name), domain_id=domain_id, enabled=enabled,
            default_project_id=default_project_id, email=email, tokens_valid_after=None,
            created_at=utcnow(),
            password_hash=hash_password(check_password(password)) if password is not None else None,
        )
        self.repo.insert_user(user)
        return user

    def get_user(self, ctx: RequestContext, user_id: str) -> User:
        self._about_user(ctx, "identity:get_user", user_id)
        return self.repo.get_user(user_id)

    def find_user(self, ctx: RequestContext, name_or_id: str) -> User:
        self._admin(ctx)
        try:
            return self.repo.get_user(name_or_id)
        except NotFound:
            return self.repo.user_by_name(name_or_id, DEFAULT_DOMAIN_ID)

    def list_users(self, ctx: RequestContext, **filters: object) -> list[User]:
        self._admin(ctx)
        return self.repo.list_users(**filters)

    def update_user(self, ctx: RequestContext, user_id: str, changes: UserChanges) -> User:
        """Change a user; a new password or disabling ends every token issued before."""
        self._admin(ctx)
        values: dict[str, object] = {k: v for k, v in vars(changes).items()
                                     if v is not None and k != "password"}
        if changes.name is not None:
            check_name("user", changes.name)
        if changes.default_project_id is not None:
            self.repo.get_project(changes.default_project_id)
        if changes.password is not None:
            values["password_hash"] = hash_password(check_password(changes.password))
        if changes.password is not None or changes.enabled is False:
            values["tokens_valid_after"] = utcnow()
        if values:
            self.repo.update_user(user_id, **values)
        return self.repo.get_user(user_id)

    def change_own_password(self, ctx: RequestContext, user_id: str, original: str,
                            password: str) -> None:
        """``POST /v3/users/{id}/password``: needs the current password (401 if wrong)."""
        self._about_user(ctx, "identity:change_password", user_id)
        user = self.repo.get_user(user_id)
        if not verify_password(original, user.password_hash):
            raise Unauthorized("The original password is not correct.")
        self.repo.update_user(user_id, password_hash=hash_password(check_password(password)),
                              tokens_valid_after=utcnow())

    def delete_user(self, ctx: RequestContext, user_id: str) -> None:
        self._admin(ctx)
        if user_id == ctx.user_id:
            raise Forbidden("You cannot delete the user you are authenticated as.")
        self.repo.delete_user(user_id)

    # -- roles and assignments -------------------------------------------------------------

    def create_role(self, ctx: RequestContext, name: str, description: str = "") -> Role:
        self._admin(ctx)
        role = Role(id=new_id(), name=check_name("role", name), description=description)
        self.repo.insert_role(role)
        return role

    def get_role(self, ctx: RequestContext, role_id: str) -> Role:
        self._admin(ctx)
        return self.repo.get_role(role_id)

    def find_role(self, ctx: RequestContext, name_or_id: str) -> Role:
        self._admin(ctx)
        try:
            return self.repo.get_role(name_or_id)
        except NotFound:
            return self.repo.role_by_name(name_or_id)

    def list_roles(self, ctx: RequestContext, **filters: object) -> list[Role]:
        self._admin(ctx)
        return self.repo.list_roles(**filters)

    def delete_role(self, ctx: RequestContext, role_id: str) -> None:
        self._admin(ctx)
        self.repo.delete_role(role_id)

    def role_refs(self, names: frozenset[str]) -> list[Role]:
        """The Role records of ``names`` (a token body lists ids and names)."""
        return [r for r in self.repo.list_roles() if r.name in names]

    def _check_assignment(self, a: Assignment) -> None:
        self.repo.get_user(a.user_id)
        self.repo.get_role(a.role_id)
        if a.project_id is not None:
            self.repo.get_project(a.project_id)
        else:
            check_domain(a.domain_id or "")

    def grant(self, ctx: RequestContext, a: Assignment) -> None:
        self._admin(ctx)
        self._check_assignment(a)
        self.repo.add_assignment(a)

    def has_grant(self, ctx: RequestContext, a: Assignment) -> bool:
        self._admin(ctx)
        self._check_assignment(a)
        return a in self.repo.list_assignments(a.user_id, target_key(a.project_id, a.domain_id))

    def revoke_grant(self, ctx: RequestContext, a: Assignment) -> None:
        self._admin(ctx)
        self._check_assignment(a)
        self.repo.remove_assignment(a)

    def assignments(self, ctx: RequestContext, user_id: str | None = None,
                    project_id: str | None = None, domain_id: str | None = None,
                    role_id: str | None = None) -> list[Assignment]:
        if user_id is None or user_id != ctx.user_id:
            self._admin(ctx)
        target = target_key(project_id, domain_id) if project_id or domain_id else None
        return self.repo.list_assignments(user_id, target, role_id)

    def names(self, ctx: RequestContext) -> dict[str, str]:
        """``kind:id`` → name for every user, project and role (``include_names``)."""
        self._admin(ctx)
        out = {f"user:{u.id}": u.name for u in self.repo.list_users()}
        out.update({f"project:{p.id}": p.name for p in self.repo.list_projects()})
        out.update({f"role:{r.id}": r.name for r in self.repo.list_roles()})
        return out

    def has_domain_role(self, ctx: RequestContext) -> bool:
        """True if the caller holds a role on the domain (``GET /v3/auth/domains``)."""
        return bool(ctx.user_id) and bool(
            self.repo.role_names(ctx.user_id or "", target_key(None, DEFAULT_DOMAIN_ID)))


def check_domain(domain_id: str) -> None:
    if domain_id != DEFAULT_DOMAIN_ID:
        raise NotFound(f"Could not find domain: {domain_id}.")
