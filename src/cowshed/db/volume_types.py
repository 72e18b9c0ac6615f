"""SQL for the volume types created over the API (extra specs, project access) and for the
volume quota limits set over the API. Types made from configuration never reach these tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import sqlalchemy as sa

from cowshed.db.schema import (
    volume_quota_limits,
    volume_type_projects,
    volume_type_specs,
    volume_types,
)
from cowshed.domain.clock import utcnow
from cowshed.errors import AlreadyExists, NotFound


@dataclass(frozen=True)
class StoredType:
    """One row of ``volume_types`` with its extra specs and the projects it is shared with."""

    id: str
    name: str
    description: str | None
    is_public: bool
    extra_specs: Mapping[str, str]
    projects: tuple[str, ...]
    created_at: datetime


class VolumeTypeRepository:
    """Every query on the API-created volume types and on the quota limits."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- types ----------------------------------------------------------------------------------

    def create_type(self, type_id: str, name: str, description: str | None, is_public: bool,
                    extra_specs: Mapping[str, str]) -> StoredType:
        """Insert a type with its specs; AlreadyExists when the name is taken."""
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(volume_types.insert().values(
                    id=type_id, name=name, description=description, is_public=is_public,
                    created_at=now, updated_at=now))
                _put_specs(conn, type_id, extra_specs)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Volume Type {name} already exists.") from exc
        return self.get_type(type_id)

    def find_type(self, name_or_id: str) -> StoredType | None:
        """The type whose id or name is ``name_or_id``; an id wins over a name."""
        with self.engine.connect() as conn:
            rows = conn.execute(volume_types.select().where(sa.or_(
                volume_types.c.id == name_or_id, volume_types.c.name == name_or_id,
            ))).mappings().all()
            if not rows:
                return None
            row = next((r for r in rows if r["id"] == name_or_id), rows[0])
            return _stored(conn, row)

    def get_type(self, type_id: str) -> StoredType:
        found = self.find_type(type_id)
        if found is None:
            raise NotFound(f"Volume type {type_id} could not be found.")
        return found

    def list_types(self) -> list[StoredType]:
        with self.engine.connect() as conn:
            rows = conn.execute(volume_types.select().order_by(
                volume_types.c.created_at, volume_types.c.id)).mappings().all()
            return [_stored(conn, r) for r in rows]

    def update_type(self, type_id: str, *, name: str | None, description: str | None,
                    is_public: bool | None) -> StoredType:
        """Change the given fields; AlreadyExists for a taken name, NotFound."""
        values: dict[str, object] = {"updated_at": utcnow()}
        if name is not None:
            values["name"] = name
        if description is not None:
            values["description"] = description
        if is_public is not None:
            values["is_public"] = is_public
        try:
            with self.engine.begin() as conn:
                done = conn.execute(volume_types.update().where(
                    volume_types.c.id == type_id).values(**values)).rowcount
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Volume Type {name} already exists.") from exc
        if done != 1:
            raise NotFound(f"Volume type {type_id} could not be found.")
        return self.get_type(type_id)

    def delete_type(self, type_id: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(volume_types.delete().where(
                volume_types.c.id == type_id)).rowcount
        if gone != 1:
            raise NotFound(f"Volume type {type_id} could not be found.")

    def set_specs(self, type_id: str, specs: Mapping[str, str]) -> None:
        """Add or replace the given extra specs (others stay)."""
        with self.engine.begin() as conn:
            conn.execute(volume_type_specs.delete().where(
                volume_type_specs.c.type_id == type_id,
                volume_type_specs.c.key.in_(list(specs))))
            _put_specs(conn, type_id, specs)

    def delete_spec(self, type_id: str, key: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(volume_type_specs.delete().where(
                volume_type_specs.c.type_id == type_id,
                volume_type_specs.c.key == key)).rowcount
        if gone != 1:
            raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")

    def add_project(self, type_id: str, project_id: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(volume_type_projects.insert().values(
                    type_id=type_id, project_id=project_id))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Volume type access for {type_id} / {project_id} combination "
                                "already exists.") from exc

    def remove_project(self, type_id: str, project_id: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(volume_type_projects.delete().where(
                volume_type_projects.c.type_id == type_id,
                volume_type_projects.c.project_id == project_id)).rowcount
        if gone != 1:
            raise NotFound(f"Volume type access not found for {type_id} / {project_id} "
                           "combination.")

    # -- quota limits ---------------------------------------------------------------------------

    def quota_limits(self, scope: str, owner: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(
                volume_quota_limits.c.resource, volume_quota_limits.c.hard_limit).where(
                volume_quota_limits.c.scope == scope, volume_quota_limits.c.owner == owner))
            return {r.resource: int(r.hard_limit) for r in rows}

    def set_quota_limits(self, scope: str, owner: str, limits: Mapping[str, int]) -> None:
        """Replace the given resources' limits in one transaction (the others stay)."""
        table = volume_quota_limits
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(
                table.c.scope == scope, table.c.owner == owner,
                table.c.resource.in_(list(limits))))
            if limits:
                conn.execute(table.insert(), [
                    {"scope": scope, "owner": owner, "resource": k, "hard_limit": v}
                    for k, v in limits.items()])

    def clear_quota_limits(self, scope: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(volume_quota_limits.delete().where(
                volume_quota_limits.c.scope == scope, volume_quota_limits.c.owner == owner))


def _put_specs(conn: sa.Connection, type_id: str, specs: Mapping[str, str]) -> None:
    if specs:
        conn.execute(volume_type_specs.insert(), [
            {"type_id": type_id, "key": k, "value": v} for k, v in specs.items()])


def _stored(conn: sa.Connection, row: sa.RowMapping) -> StoredType:
    type_id = row["id"]
    specs = conn.execute(sa.select(volume_type_specs.c.key, volume_type_specs.c.value).where(
        volume_type_specs.c.type_id == type_id).order_by(volume_type_specs.c.key))
    projects = conn.execute(sa.select(volume_type_projects.c.project_id).where(
        volume_type_projects.c.type_id == type_id).order_by(volume_type_projects.c.project_id))
    return StoredType(
        id=type_id, name=row["name"], description=row["description"],
        is_public=bool(row["is_public"]),
        extra_specs=MappingProxyType({s.key: s.value for s in specs}),
        projects=tuple(p.project_id for p in projects), created_at=row["created_at"])
