"""SQL for volume QoS specs: the named sets, their keys, and which volume types use them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import sqlalchemy as sa

from cowshed.db.schema import volume_qos_keys, volume_qos_specs, volume_type_qos
from cowshed.domain.clock import utcnow
from cowshed.domain.volumes import QosConsumer, QosSpecs
from cowshed.errors import AlreadyExists, NotFound


class QosRepository:
    """Every query on the QoS tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, qos_id: str, name: str, consumer: QosConsumer,
               specs: Mapping[str, str]) -> QosSpecs:
        """Insert a set with its keys; AlreadyExists for a taken name."""
        try:
            with self.engine.begin() as conn:
                conn.execute(volume_qos_specs.insert().values(
                    id=qos_id, name=name, consumer=str(consumer), created_at=utcnow()))
                _put_keys(conn, qos_id, specs)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"QoS Specs {name} already exists.") from exc
        return self.get(qos_id)

    def get(self, qos_id: str) -> QosSpecs:
        with self.engine.connect() as conn:
            row = conn.execute(volume_qos_specs.select().where(
                volume_qos_specs.c.id == qos_id)).mappings().first()
            if row is None:
                raise NotFound(f"No such QoS spec {qos_id}.")
            return _record(conn, row)

    def all(self) -> list[QosSpecs]:
        with self.engine.connect() as conn:
            rows = conn.execute(volume_qos_specs.select().order_by(
                volume_qos_specs.c.created_at, volume_qos_specs.c.id)).mappings().all()
            return [_record(conn, r) for r in rows]

    def set_keys(self, qos_id: str, specs: Mapping[str, str]) -> None:
        self.get(qos_id)
        with self.engine.begin() as conn:
            conn.execute(volume_qos_keys.delete().where(
                volume_qos_keys.c.qos_id == qos_id, volume_qos_keys.c.key.in_(list(specs))))
            _put_keys(conn, qos_id, specs)

    def delete_keys(self, qos_id: str, keys: Iterable[str]) -> None:
        """Remove the keys, all or none; NotFound naming the first missing one."""
        wanted = list(keys)
        with self.engine.begin() as conn:
            present = set(conn.execute(sa.select(volume_qos_keys.c.key).where(
                volume_qos_keys.c.qos_id == qos_id)).scalars())
            missing = [k for k in wanted if k not in present]
            if missing:
                raise NotFound(f"QoS spec {qos_id} has no spec with key {missing[0]}.")
            conn.execute(volume_qos_keys.delete().where(
                volume_qos_keys.c.qos_id == qos_id, volume_qos_keys.c.key.in_(wanted)))

    def delete(self, qos_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(volume_type_qos.delete().where(volume_type_qos.c.qos_id == qos_id))
            gone = conn.execute(volume_qos_specs.delete().where(
                volume_qos_specs.c.id == qos_id)).rowcount
        if gone != 1:
            raise NotFound(f"No such QoS spec {qos_id}.")

    # -- associations ---------------------------------------------------------------------------

    def qos_of_types(self) -> dict[str, str]:
        """type id → QoS specs id, for every associated type."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(volume_type_qos.c.type_id, volume_type_qos.c.qos_id))
            return {r.type_id: r.qos_id for r in rows}

    def types_of(self, qos_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(volume_type_qos.c.type_id).where(
                volume_type_qos.c.qos_id == qos_id).order_by(volume_type_qos.c.type_id))
                .scalars())

    def associate(self, qos_id: str, type_id: str) -> None:
        """Associate; AlreadyExists when the type has other QoS specs already."""
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(volume_type_qos.c.qos_id).where(
                volume_type_qos.c.type_id == type_id)).scalar()
            if current == qos_id:
                return
            if current is not None:
                raise AlreadyExists(f"Volume type {type_id} is already associated with "
                                    f"QoS specs {current}.")
            conn.execute(volume_type_qos.insert().values(type_id=type_id, qos_id=qos_id))

    def disassociate(self, qos_id: str, type_id: str | None = None) -> None:
        """Drop one type's association (every type's when ``type_id`` is None)."""
        conds = [volume_type_qos.c.qos_id == qos_id]
        if type_id is not None:
            conds.append(volume_type_qos.c.type_id == type_id)
        with self.engine.begin() as conn:
            conn.execute(volume_type_qos.delete().where(*conds))

    def forget_type(self, type_id: str) -> None:
        """A deleted type's association goes with it."""
        with self.engine.begin() as conn:
            conn.execute(volume_type_qos.delete().where(volume_type_qos.c.type_id == type_id))


def _put_keys(conn: sa.Connection, qos_id: str, specs: Mapping[str, str]) -> None:
    if specs:
        conn.execute(volume_qos_keys.insert(), [
            {"qos_id": qos_id, "key": k, "value": v} for k, v in specs.items()])


def _record(conn: sa.Connection, row: sa.RowMapping) -> QosSpecs:
    keys = conn.execute(sa.select(volume_qos_keys.c.key, volume_qos_keys.c.value).where(
        volume_qos_keys.c.qos_id == row["id"]).order_by(volume_qos_keys.c.key))
    return QosSpecs(id=row["id"], name=row["name"], consumer=QosConsumer(row["consumer"]),
                    specs=MappingProxyType({k.key: k.value for k in keys}))
