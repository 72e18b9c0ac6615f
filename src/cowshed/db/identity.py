"""SQL for the standalone identity: projects, users, roles, assignments, revoked tokens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cowshed.db.schema import (
    identity_assignments,
    identity_projects,
    identity_revoked_tokens,
    identity_roles,
    identity_users,
)
from cowshed.domain.clock import utcnow
from cowshed.domain.identity import Assignment, Project, Role, User
from cowshed.errors import AlreadyExists, NotFound

_TABLES = {"user": identity_users, "project": identity_projects, "role": identity_roles}


def target_key(project_id: str | None, domain_id: str | None) -> str:
    return f"project:{project_id}" if project_id is not None else f"domain:{domain_id}"


class IdentityRepository:
    """Every query on the identity tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- generic rows ----------------------------------------------------------------------

    def _insert(self, kind: str, row: Mapping[str, Any]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(_TABLES[kind].insert().values(**row))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Conflict occurred attempting to store {kind} - Duplicate "
                                f"entry found with name {row.get('name')}.") from exc

    def _get(self, kind: str, column: str, value: str, domain_id: str | None = None
             ) -> sa.RowMapping:
        table = _TABLES[kind]
        query = table.select().where(table.c[column] == value)
        if domain_id is not None:
            query = query.where(table.c.domain_id == domain_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"Could not find {kind}: {value}.")
        return row

    def _list(self, kind: str, filters: Mapping[str, object]) -> list[sa.RowMapping]:
        table = _TABLES[kind]
        query = table.select().order_by(table.c.name)
        for column, value in filters.items():
            query = query.where(table.c[column] == value)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def _update(self, kind: str, row_id: str, values: Mapping[str, object]) -> None:
        table = _TABLES[kind]
        try:
            with self.engine.begin() as conn:
                done = conn.execute(table.update().where(table.c.id == row_id).values(**values))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Conflict occurred attempting to update {kind} - Duplicate "
                                f"entry found with name {values.get('name')}.") from exc
        if done.rowcount != 1:
            raise NotFound(f"Could not find {kind}: {row_id}.")

    def _delete(self, kind: str, row_id: str) -> None:
        table = _TABLES[kind]
        with self.engine.begin() as conn:
            if kind == "project":
                conn.execute(identity_assignments.delete().where(
                    identity_assignments.c.target == target_key(row_id, None)))
            if conn.execute(table.delete().where(table.c.id == row_id)).rowcount != 1:
                raise NotFound(f"Could not find {kind}: {row_id}.")

    # -- projects --------------------------------------------------------------------------

    def insert_project(self, project: Project) -> None:
        self._insert("project", vars(project))

    def get_project(self, project_id: str) -> Project:
        return Project(**self._get("project", "id", project_id))

    def project_by_name(self, name: str, domain_id: str) -> Project:
        return Project(**self._get("project", "name", name, domain_id))

    def list_projects(self, **filters: object) -> list[Project]:
        return [Project(**r) for r in self._list("project", filters)]

    def update_project(self, project_id: str, **values: object) -> None:
        self._update("project", project_id, values)

    def delete_project(self, project_id: str) -> None:
        self._delete("project", project_id)

    # -- users -----------------------------------------------------------------------------

    def insert_user(self, user: User) -> None:
        self._insert("user", vars(user))

    def get_user(self, user_id: str) -> User:
        return User(**self._get("user", "id", user_id))

    def user_by_name(self, name: str, domain_id: str) -> User:
        return User(**self._get("user", "name", name, domain_id))

    def list_users(self, **filters: object) -> list[User]:
        return [User(**r) for r in self._list("user", filters)]

    def update_user(self, user_id: str, **values: object) -> None:
        self._update("user", user_id, values)

    def delete_user(self, user_id: str) -> None:
        self._delete("user", user_id)

    # -- roles -----------------------------------------------------------------------------

    def insert_role(self, role: Role) -> None:
        self._insert("role", vars(role))

    def get_role(self, role_id: str) -> Role:
        return Role(**self._get("role", "id", role_id))

    def role_by_name(self, name: str) -> Role:
        return Role(**self._get("role", "name", name))

    def list_roles(self, **filters: object) -> list[Role]:
        return [Role(**r) for r in self._list("role", filters)]

    def delete_role(self, role_id: str) -> None:
        self._delete("role", role_id)

    # -- assignments -----------------------------------------------------------------------

    def add_assignment(self, a: Assignment) -> None:
        """Idempotent, as Keystone's PUT is."""
        row = {"user_id": a.user_id, "role_id": a.role_id,
               "target": target_key(a.project_id, a.domain_id)}
        try:
            with self.engine.begin() as conn:
                conn.execute(identity_assignments.insert().values(**row))
        except sa.exc.IntegrityError:
            with self.engine.connect() as conn:
                if conn.execute(identity_assignments.select().filter_by(**row)).first() is None:
                    raise NotFound("The user or the role does not exist.") from None

    def remove_assignment(self, a: Assignment) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(identity_assignments.delete().where(
                identity_assignments.c.user_id == a.user_id,
                identity_assignments.c.role_id == a.role_id,
                identity_assignments.c.target == target_key(a.project_id, a.domain_id))).rowcount
        if gone != 1:
            raise NotFound(f"Could not find role assignment with role: {a.role_id}, user: "
                           f"{a.user_id}.")

    def list_assignments(self, user_id: str | None = None, target: str | None = None,
                         role_id: str | None = None) -> list[Assignment]:
        t = identity_assignments
        query = t.select().order_by(t.c.user_id, t.c.target, t.c.role_id)
        for column, value in (("user_id", user_id), ("target", target), ("role_id", role_id)):
            if value is not None:
                query = query.where(t.c[column] == value)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_assignment(r) for r in rows]

    def role_names(self, user_id: str, target: str) -> set[str]:
        """The names of the roles ``user_id`` holds directly on ``target``, in one query."""
        query = sa.select(identity_roles.c.name).join(
            identity_assignments, identity_assignments.c.role_id == identity_roles.c.id,
        ).where(identity_assignments.c.user_id == user_id,
                identity_assignments.c.target == target)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    # -- revocation ------------------------------------------------------------------------

    def revoke_token(self, audit_id: str, expires_at: datetime) -> None:
        """Record a revoked token (idempotent) and drop records of tokens expired anyway."""
        with self.engine.begin() as conn:
            conn.execute(identity_revoked_tokens.delete().where(
                identity_revoked_tokens.c.expires_at < utcnow()))
        try:
            with self.engine.begin() as conn:
                conn.execute(identity_revoked_tokens.insert().values(
                    audit_id=audit_id, expires_at=expires_at))
        except sa.exc.IntegrityError:
            pass  # revoked already (or by a concurrent request): the same outcome

    def is_revoked(self, audit_ids: list[str]) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(identity_revoked_tokens.c.audit_id).where(
                identity_revoked_tokens.c.audit_id.in_(audit_ids))).first()
        return found is not None


def _assignment(row: sa.RowMapping) -> Assignment:
    kind, _, target_id = row["target"].partition(":")
    return Assignment(user_id=row["user_id"], role_id=row["role_id"],
                      project_id=target_id if kind == "project" else None,
                      domain_id=target_id if kind == "domain" else None)
