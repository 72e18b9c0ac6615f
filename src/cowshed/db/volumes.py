"""SQL for the volume aggregate: volumes with their metadata, lineage and clone snapshots.

Status changes are compare-and-set (``UPDATE … WHERE status IN (:expected)``): two requests can
never both move a volume out of the same status. A lost race raises InvalidState, Cinder's 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from cowshed.db._listing import condition, page
from cowshed.db.schema import clone_snaps, volume_attachments, volume_metadata, volumes
from cowshed.domain.clock import utcnow
from cowshed.domain.query import VOLUME_SORT_KEYS, VolumeQuery
from cowshed.domain.volumes import (
    Attachment,
    AttachmentStatus,
    AttachMode,
    AttachStatus,
    BackendParent,
    Origin,
    SourceKind,
    Volume,
    VolumeStatus,
)
from cowshed.errors import AlreadyExists, InvalidState, NotFound

#: Volume fields stored in a column of the same name.
_PLAIN = (
    "project_id", "user_id", "name", "description", "size", "status", "attach_status",
    "volume_type", "bootable", "multiattach", "readonly", "encrypted", "availability_zone",
    "backend_key", "hidden", "dirty", "clone_snap", "previous_status", "launched_at",
    "created_at", "updated_at", "worker", "heartbeat_at",
)
USER, IMAGE = "user", "image"


def volume_columns(**changes: object) -> dict[str, object]:
    """Volume field values → column values (enums as text, origin and parent spread out)."""
    out: dict[str, object] = {}
    for name, value in changes.items():
        if name == "origin":
            assert isinstance(value, Origin)
            out.update(origin_kind=str(value.kind), origin_id=value.source_id)
        elif name == "backend_parent":
            out.update(_parent_columns(value))
        elif name in _PLAIN:
            out[name] = str(value) if isinstance(value, VolumeStatus | AttachStatus) else value
        else:
            raise TypeError(f"not a volume column: {name}")
    return out


def _parent_columns(parent: object) -> dict[str, object]:
    if parent is None:
        return dict.fromkeys(("parent_backend", "parent_key", "parent_snap", "parent_owner_kind",
                              "parent_owner_id"))
    assert isinstance(parent, BackendParent)
    return {"parent_backend": parent.backend, "parent_key": parent.key,
            "parent_snap": parent.snap, "parent_owner_kind": str(parent.owner_kind),
            "parent_owner_id": parent.owner_id}


class VolumeRepository:
    """Every query on the volume tables."""

    engine: sa.Engine

    def insert_volume(self, volume: Volume) -> None:
        row = volume_columns(**{c: getattr(volume, c) for c in _PLAIN},
                             origin=volume.origin, backend_parent=volume.backend_parent)
        try:
            with self.engine.begin() as conn:
                conn.execute(volumes.insert().values(id=volume.id, **row))
                _write_meta(conn, volume.id, USER, volume.metadata)
                _write_meta(conn, volume.id, IMAGE, volume.image_metadata)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Volume {volume.id} already exists") from exc

    def get_volume(self, volume_id: str) -> Volume:
        """The volume, hidden ones included (the services decide what callers may see)."""
        found = self.find_volume(volume_id)
        if found is None:
            raise NotFound(f"Volume {volume_id} could not be found.")
        return found

    def find_volume(self, volume_id: str) -> Volume | None:
        with self.engine.connect() as conn:
            row = conn.execute(volumes.select().where(volumes.c.id == volume_id)).mappings().first()
            return None if row is None else _hydrate(conn, [row])[0]

    def update_volume(
        self, volume_id: str, *, expect: Iterable[VolumeStatus] | None = None,
        expect_worker: str | None = None, **changes: object,
    ) -> Volume:
        """Write ``changes`` (Volume field names), only if the status is one of ``expect`` (and
        the worker is ``expect_worker``, when given); InvalidState when it is not."""
        return self.change_volume(volume_id, changes, expect=expect, expect_worker=expect_worker)

    def change_volume(
        self, volume_id: str, changes: Mapping[str, object], *,
        expect: Iterable[VolumeStatus] | None = None, expect_worker: str | None = None,
    ) -> Volume:
        """:meth:`update_volume` with the changes as a mapping."""
        values = volume_columns(**changes)
        values.setdefault("updated_at", utcnow())
        expected = None if expect is None else [str(s) for s in expect]
        with self.engine.begin() as conn:
            stmt = volumes.update().where(volumes.c.id == volume_id).values(**values)
            if expected is not None:
                stmt = stmt.where(volumes.c.status.in_(expected))
            if expect_worker is not None:
                stmt = stmt.where(volumes.c.worker == expect_worker)
            if conn.execute(stmt).rowcount != 1:
                _raise_missing_or_moved(conn, volume_id, expected)
        return self.get_volume(volume_id)

    def delete_volume_row(self, volume_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(clone_snaps.delete().where(clone_snaps.c.volume_id == volume_id))
            conn.execute(volumes.delete().where(volumes.c.id == volume_id))

    def set_volume_metadata(
        self, volume_id: str, kind: str, values: Mapping[str, str], *, replace: bool,
    ) -> dict[str, str]:
        """Merge (or, with ``replace``, set exactly) one kind of metadata; the result."""
        with self.engine.begin() as conn:
            _touch(conn, volume_id)
            if replace:
                conn.execute(volume_metadata.delete().where(
                    volume_metadata.c.volume_id == volume_id, volume_metadata.c.kind == kind))
            else:
                conn.execute(volume_metadata.delete().where(
                    volume_metadata.c.volume_id == volume_id, volume_metadata.c.kind == kind,
                    volume_metadata.c.name.in_(list(values))))
            _write_meta(conn, volume_id, kind, values)
            return _read_meta(conn, [volume_id], kind)[volume_id]

    def delete_volume_metadata_key(self, volume_id: str, kind: str, key: str) -> None:
        with self.engine.begin() as conn:
            _touch(conn, volume_id)
            gone = conn.execute(volume_metadata.delete().where(
                volume_metadata.c.volume_id == volume_id, volume_metadata.c.kind == kind,
                volume_metadata.c.name == key)).rowcount
        if gone != 1:
            raise NotFound(f"Metadata key {key} for volume {volume_id} could not be found.")

    def list_volumes(self, query: VolumeQuery, project_id: str | None) -> tuple[list[Volume],
                                                                              int | None]:
        """A page of visible volumes (``project_id`` None: every project's)."""
        conds: list[sa.ColumnElement[bool]] = [volumes.c.hidden.is_(False)]
        if project_id is not None:
            conds.append(volumes.c.project_id == project_id)
        conds += [condition(volumes, f, {}) for f in query.filters]
        for name, value in query.metadata.items():
            conds.append(volumes.c.id.in_(sa.select(volume_metadata.c.volume_id).where(
                volume_metadata.c.kind == USER, volume_metadata.c.name == name,
                volume_metadata.c.value == value)))
        with self.engine.connect() as conn:
            result = page(conn, volumes, query, conds, VOLUME_SORT_KEYS)
            return _hydrate(conn, result.rows), result.count

    def volumes_where(self, *conds: sa.ColumnElement[bool]) -> list[Volume]:
        with self.engine.connect() as conn:
            rows = conn.execute(volumes.select().where(*conds)
                                .order_by(volumes.c.created_at)).mappings().all()
            return _hydrate(conn, list(rows))

    def volumes_in_status(self, statuses: Iterable[VolumeStatus]) -> list[Volume]:
        return self.volumes_where(volumes.c.status.in_([str(s) for s in statuses]))

    def hidden_volumes(self) -> list[Volume]:
        return self.volumes_where(volumes.c.hidden.is_(True))

    def volumes_of_type(self, volume_type: str) -> list[Volume]:
        return self.volumes_where(volumes.c.volume_type == volume_type)

    def dependents(self, backend: str, key: str, snap: str | None = None) -> list[Volume]:
        """Volumes that are copy-on-write children of ``key@snap`` (any snap when None)."""
        conds = [volumes.c.parent_backend == backend, volumes.c.parent_key == key]
        if snap is not None:
            conds.append(volumes.c.parent_snap == snap)
        return self.volumes_where(*conds)

    def children_of(self, owner_ids: Iterable[str]) -> list[Volume]:
        """Volumes whose recorded parent is owned by one of ``owner_ids`` (lineage edges)."""
        ids = list(owner_ids)
        if not ids:
            return []
        return self.volumes_where(volumes.c.parent_owner_id.in_(ids))

    def made_from(self, source_ids: Iterable[str]) -> list[Volume]:
        """Volumes whose origin is one of ``source_ids`` (clones, also flattened ones)."""
        ids = list(source_ids)
        return self.volumes_where(volumes.c.origin_id.in_(ids)) if ids else []

    def volume_usage(self, project_id: str) -> tuple[int, int]:
        """(volumes, gigabytes) a project uses; hidden volumes no longer count."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
                volumes.c.size), 0)).where(volumes.c.project_id == project_id,
                                           volumes.c.hidden.is_(False))).one()
        return int(row[0]), int(row[1])

    # -- clone snapshots ------------------------------------------------------------------------

    def add_clone_snap(self, volume_id: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(clone_snaps.insert().values(volume_id=volume_id, name=name,
                                                     created_at=utcnow()))

    def remove_clone_snap(self, volume_id: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(clone_snaps.delete().where(clone_snaps.c.volume_id == volume_id,
                                                    clone_snaps.c.name == name))

    def clone_snap_names(self, volume_id: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(clone_snaps.c.name).where(
                clone_snaps.c.volume_id == volume_id).order_by(clone_snaps.c.created_at)).all()
        return [str(r[0]) for r in rows]


def _raise_missing_or_moved(conn: sa.Connection, volume_id: str,
                            expected: list[str] | None) -> None:
    row = conn.execute(sa.select(volumes.c.status).where(volumes.c.id == volume_id)).first()
    if row is None:
        raise NotFound(f"Volume {volume_id} could not be found.")
    wanted = " or ".join(expected or [])
    raise InvalidState(f"Volume {volume_id} status must be {wanted}, but it is {row[0]}"
                       if wanted else f"Volume {volume_id} changed concurrently")


def _touch(conn: sa.Connection, volume_id: str) -> None:
    done = conn.execute(volumes.update().where(volumes.c.id == volume_id)
                        .values(updated_at=utcnow())).rowcount
    if done != 1:
        raise NotFound(f"Volume {volume_id} could not be found.")


def _write_meta(conn: sa.Connection, volume_id: str, kind: str, values: Mapping[str, str]) -> None:
    if values:
        conn.execute(volume_metadata.insert(), [
            {"volume_id": volume_id, "kind": kind, "name": k, "value": v}
            for k, v in values.items()])


def _read_meta(conn: sa.Connection, ids: list[str], kind: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for m in conn.execute(volume_metadata.select().where(
                volume_metadata.c.volume_id.in_(ids), volume_metadata.c.kind == kind)
                .order_by(volume_metadata.c.name)):
            out[m.volume_id][m.name] = m.value
    return out


def _hydrate(conn: sa.Connection, rows: list[sa.RowMapping]) -> list[Volume]:
    ids = [r["id"] for r in rows]
    meta, image_meta = _read_meta(conn, ids, USER), _read_meta(conn, ids, IMAGE)
    atts: dict[str, list[Attachment]] = {i: [] for i in ids}
    if ids:
        for a in conn.execute(volume_attachments.select().where(
                volume_attachments.c.volume_id.in_(ids))
                .order_by(volume_attachments.c.created_at)).mappings():
            atts[a["volume_id"]].append(to_attachment(a))
    return [_to_volume(r, meta[r["id"]], image_meta[r["id"]], atts[r["id"]]) for r in rows]


def to_attachment(row: sa.RowMapping) -> Attachment:
    return Attachment(
        id=row["id"], volume_id=row["volume_id"], status=AttachmentStatus(row["status"]),
        instance_uuid=row["instance_uuid"], attached_host=row["attached_host"],
        mountpoint=row["mountpoint"], attach_mode=AttachMode(row["attach_mode"]),
        connector=json.loads(row["connector"] or "{}"), attach_time=row["attach_time"],
        detach_time=row["detach_time"],
    )


def _to_volume(row: sa.RowMapping, meta: dict[str, str], image_meta: dict[str, str],
               atts: list[Attachment]) -> Volume:
    parent = None
    if row["parent_key"] is not None:
        parent = BackendParent(
            backend=row["parent_backend"], key=row["parent_key"], snap=row["parent_snap"],
            owner_kind=SourceKind(row["parent_owner_kind"]), owner_id=row["parent_owner_id"])
    values: dict[str, Any] = {c: row[c] for c in _PLAIN}
    values.update(
        status=VolumeStatus(row["status"]), attach_status=AttachStatus(row["attach_status"]),
        previous_status=VolumeStatus(row["previous_status"]) if row["previous_status"] else None,
        bootable=bool(row["bootable"]), multiattach=bool(row["multiattach"]),
        readonly=bool(row["readonly"]), encrypted=bool(row["encrypted"]),
        hidden=bool(row["hidden"]), dirty=bool(row["dirty"]),
    )
    return Volume(id=row["id"], origin=Origin(SourceKind(row["origin_kind"]), row["origin_id"]),
                  backend_parent=parent, metadata=meta, image_metadata=image_meta,
                  attachments=tuple(atts), **values)

