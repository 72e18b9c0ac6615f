"""SQL for volume snapshots (with their metadata) and volume attachments."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from cowshed.db._listing import condition, page
from cowshed.db.schema import snapshot_metadata, volume_attachments, volume_snapshots, volumes
from cowshed.db.volumes import to_attachment
from cowshed.domain.clock import utcnow
from cowshed.domain.query import SNAPSHOT_SORT_KEYS, VolumeQuery
from cowshed.domain.volumes import Attachment, AttachmentStatus, Snapshot, SnapshotStatus
from cowshed.errors import AlreadyExists, InvalidState, NotFound

_PLAIN = (
    "volume_id", "project_id", "user_id", "name", "description", "size", "status",
    "backend_snap", "progress", "hidden", "created_at", "updated_at", "worker", "heartbeat_at",
)
_ATTACHMENT_SORT = frozenset({"id", "created_at", "status", "volume_id"})
_ATTACHMENT_ALIASES = {"instance_id": "instance_uuid", "attach_status": "status"}


def _snapshot_columns(**changes: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in changes.items():
        if name not in _PLAIN:
            raise TypeError(f"not a snapshot column: {name}")
        out[name] = str(value) if isinstance(value, SnapshotStatus) else value
    return out


class SnapshotRepository:
    """Every query on the snapshot and attachment tables."""

    engine: sa.Engine

    # -- snapshots ------------------------------------------------------------------------------

    def insert_snapshot(self, snap: Snapshot) -> None:
        row = _snapshot_columns(**{c: getattr(snap, c) for c in _PLAIN})
        try:
            with self.engine.begin() as conn:
                conn.execute(volume_snapshots.insert().values(id=snap.id, **row))
                _write_meta(conn, snap.id, snap.metadata)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Snapshot {snap.id} already exists") from exc

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        with self.engine.connect() as conn:
            row = conn.execute(volume_snapshots.select().where(
                volume_snapshots.c.id == snapshot_id)).mappings().first()
            if row is None:
                raise NotFound(f"Snapshot {snapshot_id} could not be found.")
            return _hydrate(conn, [row])[0]

    def update_snapshot(
        self, snapshot_id: str, *, expect: Iterable[SnapshotStatus] | None = None,
        **changes: object,
    ) -> Snapshot:
        """Write ``changes``, only if the status is one of ``expect``; InvalidState if not."""
        return self.change_snapshot(snapshot_id, changes, expect=expect)

    def change_snapshot(self, snapshot_id: str, changes: Mapping[str, object], *,
                        expect: Iterable[SnapshotStatus] | None = None) -> Snapshot:
        values = _snapshot_columns(**changes)
        values.setdefault("updated_at", utcnow())
        expected = None if expect is None else [str(s) for s in expect]
        with self.engine.begin() as conn:
            stmt = volume_snapshots.update().where(volume_snapshots.c.id == snapshot_id)
            if expected is not None:
                stmt = stmt.where(volume_snapshots.c.status.in_(expected))
            if conn.execute(stmt.values(**values)).rowcount != 1:
                row = conn.execute(sa.select(volume_snapshots.c.status).where(
                    volume_snapshots.c.id == snapshot_id)).first()
                if row is None:
                    raise NotFound(f"Snapshot {snapshot_id} could not be found.")
                raise InvalidState(f"Snapshot {snapshot_id} status must be "
                                   f"{' or '.join(expected or [])}, but it is {row[0]}")
        return self.get_snapshot(snapshot_id)

    def delete_snapshot_row(self, snapshot_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(volume_snapshots.delete().where(volume_snapshots.c.id == snapshot_id))

    def set_snapshot_metadata(
        self, snapshot_id: str, values: Mapping[str, str], *, replace: bool,
    ) -> dict[str, str]:
        with self.engine.begin() as conn:
            if conn.execute(volume_snapshots.update().where(
                    volume_snapshots.c.id == snapshot_id).values(updated_at=utcnow())).rowcount != 1:
                raise NotFound(f"Snapshot {snapshot_id} could not be found.")
            stmt = snapshot_metadata.delete().where(snapshot_metadata.c.snapshot_id == snapshot_id)
            if not replace:
                stmt = stmt.where(snapshot_metadata.c.name.in_(list(values)))
            conn.execute(stmt)
            _write_meta(conn, snapshot_id, values)
            return _read_meta(conn, [snapshot_id])[snapshot_id]

    def delete_snapshot_metadata_key(self, snapshot_id: str, key: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(snapshot_metadata.delete().where(
                snapshot_metadata.c.snapshot_id == snapshot_id,
                snapshot_metadata.c.name == key)).rowcount
        if gone != 1:
            raise NotFound(f"Metadata key {key} for snapshot {snapshot_id} could not be found.")

    def snapshots_of(self, volume_id: str, *, hidden: bool | None = None) -> list[Snapshot]:
        """A volume's snapshots, oldest first (hidden ones too unless ``hidden`` says)."""
        conds = [volume_snapshots.c.volume_id == volume_id]
        if hidden is not None:
            conds.append(volume_snapshots.c.hidden.is_(hidden))
        return self.snapshots_where(*conds)

    def snapshots_where(self, *conds: sa.ColumnElement[bool]) -> list[Snapshot]:
        with self.engine.connect() as conn:
            rows = conn.execute(volume_snapshots.select().where(*conds).order_by(
                volume_snapshots.c.created_at, volume_snapshots.c.id)).mappings().all()
            return _hydrate(conn, list(rows))

    def snapshots_in_status(self, statuses: Iterable[SnapshotStatus]) -> list[Snapshot]:
        return self.snapshots_where(volume_snapshots.c.status.in_([str(s) for s in statuses]))

    def list_snapshots(self, query: VolumeQuery, project_id: str | None) -> tuple[list[Snapshot],
                                                                                  int | None]:
        conds: list[sa.ColumnElement[bool]] = [volume_snapshots.c.hidden.is_(False)]
        if project_id is not None:
            conds.append(volume_snapshots.c.project_id == project_id)
        conds += [condition(volume_snapshots, f, {}) for f in query.filters]
        for name, value in query.metadata.items():
            conds.append(volume_snapshots.c.id.in_(sa.select(snapshot_metadata.c.snapshot_id)
                         .where(snapshot_metadata.c.name == name,
                                snapshot_metadata.c.value == value)))
        with self.engine.connect() as conn:
            result = page(conn, volume_snapshots, query, conds, SNAPSHOT_SORT_KEYS)
            return _hydrate(conn, result.rows), result.count

    def snapshot_usage(self, project_id: str) -> tuple[int, int]:
        """(snapshots, gigabytes) a project uses; hidden snapshots no longer count."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
                volume_snapshots.c.size), 0)).where(
                volume_snapshots.c.project_id == project_id,
                volume_snapshots.c.hidden.is_(False))).one()
        return int(row[0]), int(row[1])

    # -- attachments ----------------------------------------------------------------------------

    def insert_attachment(self, att: Attachment) -> None:
        with self.engine.begin() as conn:
            conn.execute(volume_attachments.insert().values(**_attachment_row(att),
                                                            created_at=utcnow()))

    def get_attachment(self, attachment_id: str) -> Attachment:
        with self.engine.connect() as conn:
            row = conn.execute(volume_attachments.select().where(
                volume_attachments.c.id == attachment_id)).mappings().first()
        if row is None:
            raise NotFound(f"Volume attachment {attachment_id} could not be found.")
        return to_attachment(row)

    def update_attachment(self, att: Attachment, *,
                          expect: Iterable[AttachmentStatus] | None = None) -> Attachment:
        row = _attachment_row(att)
        with self.engine.begin() as conn:
            stmt = volume_attachments.update().where(volume_attachments.c.id == att.id)
            if expect is not None:
                stmt = stmt.where(volume_attachments.c.status.in_([str(s) for s in expect]))
            if conn.execute(stmt.values(**row)).rowcount != 1:
                raise InvalidState(f"Volume attachment {att.id} changed concurrently")
        return self.get_attachment(att.id)

    def delete_attachment_row(self, attachment_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(volume_attachments.delete().where(
                volume_attachments.c.id == attachment_id))

    def list_attachments(self, query: VolumeQuery, project_id: str | None
                         ) -> tuple[list[Attachment], int | None]:
        conds: list[sa.ColumnElement[bool]] = []
        if project_id is not None:
            conds.append(volume_attachments.c.volume_id.in_(
                sa.select(volumes.c.id).where(volumes.c.project_id == project_id)))
        conds += [condition(volume_attachments, f, _ATTACHMENT_ALIASES) for f in query.filters]
        with self.engine.connect() as conn:
            result = page(conn, volume_attachments, query, conds, _ATTACHMENT_SORT)
        return [to_attachment(r) for r in result.rows], result.count


def _attachment_row(att: Attachment) -> dict[str, Any]:
    return {
        "id": att.id, "volume_id": att.volume_id, "status": str(att.status),
        "instance_uuid": att.instance_uuid, "attached_host": att.attached_host,
        "mountpoint": att.mountpoint, "attach_mode": str(att.attach_mode),
        "connector": json.dumps(dict(att.connector)), "attach_time": att.attach_time,
        "detach_time": att.detach_time,
    }


def _write_meta(conn: sa.Connection, snapshot_id: str, values: Mapping[str, str]) -> None:
    if values:
        conn.execute(snapshot_metadata.insert(), [
            {"snapshot_id": snapshot_id, "name": k, "value": v} for k, v in values.items()])


def _read_meta(conn: sa.Connection, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for m in conn.execute(snapshot_metadata.select().where(
                snapshot_metadata.c.snapshot_id.in_(ids)).order_by(snapshot_metadata.c.name)):
            out[m.snapshot_id][m.name] = m.value
    return out


def _hydrate(conn: sa.Connection, rows: list[sa.RowMapping]) -> list[Snapshot]:
    meta = _read_meta(conn, [r["id"] for r in rows])
    out = []
    for r in rows:
        values: dict[str, Any] = {c: r[c] for c in _PLAIN}
        values.update(status=SnapshotStatus(r["status"]), hidden=bool(r["hidden"]))
        out.append(Snapshot(id=r["id"], metadata=meta[r["id"]], **values))
    return out
