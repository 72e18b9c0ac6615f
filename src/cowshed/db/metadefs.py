"""SQL for metadata definitions: namespaces, resource types, associations and namespace items.

Objects, property definitions and tags share one table (``metadef_items``), keyed by namespace,
kind and name, with their body as JSON. Every write names the namespace by its row id, so a
namespace rename never touches its contents. Duplicate names are caught by the primary keys and
unique constraints and reported as :class:`~cowshed.errors.AlreadyExists` (409).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cowshed.db.schema import (
    metadef_associations as assoc_t,
)
from cowshed.db.schema import (
    metadef_items as items_t,
)
from cowshed.db.schema import (
    metadef_namespaces as ns_t,
)
from cowshed.db.schema import (
    metadef_resource_types as rt_t,
)
from cowshed.domain.clock import utcnow
from cowshed.domain.metadefs import (
    Association,
    AssociationFields,
    Item,
    ItemKind,
    Namespace,
    NamespaceDocument,
    NamespaceFields,
    NamespaceQuery,
    ResourceType,
    Visibility,
    namespace_document,
)
from cowshed.errors import AlreadyExists, InvalidRequest, NotFound


@contextmanager
def _unique(what: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.IntegrityError:
        raise AlreadyExists(f"{what} already exists") from None


def _ns(row: sa.RowMapping) -> Namespace:
    return Namespace(
        id=row["id"], namespace=row["namespace"], display_name=row["display_name"],
        description=row["description"], visibility=Visibility(row["visibility"]),
        protected=row["protected"], owner=row["owner"], created_at=row["created_at"],
        updated_at=row["updated_at"])


def insert_document(conn: sa.Connection, doc: NamespaceDocument, owner: str | None) -> int:
    """Insert a namespace with its associations and items in ``conn``'s transaction; resource
    types it names are created when missing (as ``glance-manage db_load_metadefs`` does)."""
    now = utcnow()
    fields = asdict(doc.fields)
    fields["owner"] = doc.fields.owner or owner
    with _unique(f"Namespace {doc.fields.namespace}"):
        ns_id: int = conn.execute(ns_t.insert().values(
            **fields, created_at=now, updated_at=now).returning(ns_t.c.id)).scalar_one()
    for assoc in doc.associations:
        ensure_resource_type(conn, assoc.name)
        conn.execute(assoc_t.insert().values(
            namespace_id=ns_id, resource_type=assoc.name, prefix=assoc.prefix,
            properties_target=assoc.properties_target, created_at=now, updated_at=now))
    for kind, name, body in doc.items:
        conn.execute(items_t.insert().values(
            namespace_id=ns_id, kind=kind.value, name=name, body=json.dumps(body),
            created_at=now, updated_at=now))
    return ns_id


#: the resource types every deployment has (OpenStack's names, which clients filter on).
BUILTIN_RESOURCE_TYPES = ("OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
                          "OS::Nova::Server", "OS::Nova::Aggregate")
BUILTIN_DIR = Path(__file__).with_name("metadefs_builtin")


def seed_builtins(conn: sa.Connection) -> None:
    """Load the namespaces shipped with cowshed (Glance's metadef file format)."""
    for path in sorted(BUILTIN_DIR.glob("*.json")):
        insert_document(conn, namespace_document(json.loads(path.read_text("utf-8"))), None)


def ensure_resource_type(conn: sa.Connection, name: str, protected: bool = False) -> None:
    if conn.execute(sa.select(rt_t.c.name).where(rt_t.c.name == name)).first() is None:
        now = utcnow()
        conn.execute(rt_t.insert().values(name=name, protected=protected, created_at=now,
                                          updated_at=now))


class MetadefRepository:
    """Every query on the metadef tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- namespaces ---------------------------------------------------------------------------

    def create_namespace(self, doc: NamespaceDocument, owner: str | None) -> Namespace:
        with self.engine.begin() as conn:
            ns_id = insert_document(conn, doc, owner)
            row = conn.execute(ns_t.select().where(ns_t.c.id == ns_id)).mappings().one()
        return _ns(row)

    def replace_namespace(self, doc: NamespaceDocument, owner: str | None) -> None:
        """Drop the namespace of that name (if any) and insert ``doc``, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(ns_t.delete().where(ns_t.c.namespace == doc.fields.namespace))
            insert_document(conn, doc, owner)

    def get_namespace(self, name: str) -> Namespace:
        with self.engine.connect() as conn:
            row = conn.execute(ns_t.select().where(ns_t.c.namespace == name)).mappings().first()
        if row is None:
            raise NotFound(f"Metadata definition namespace={name} was not found.")
        return _ns(row)

    def list_namespaces(self, q: NamespaceQuery, *, project_id: str | None,
                        admin: bool) -> list[Namespace]:
        """A page of namespaces; a non-admin sees public ones and their project's own."""
        query = ns_t.select()
        if not admin:
            query = query.where(sa.or_(ns_t.c.visibility == Visibility.PUBLIC.value,
                                       ns_t.c.owner == project_id))
        if q.visibility is not None:
            query = query.where(ns_t.c.visibility == q.visibility.value)
        if q.resource_types:
            query = query.where(ns_t.c.id.in_(sa.select(assoc_t.c.namespace_id).where(
                assoc_t.c.resource_type.in_(list(q.resource_types)))))
        column = ns_t.c[q.sort_key]
        with self.engine.connect() as conn:
            if q.marker is not None:
                mark = conn.execute(ns_t.select().where(ns_t.c.namespace == q.marker)
                                    ).mappings().first()
                if mark is None:
                    raise InvalidRequest(f"Invalid marker: namespace {q.marker} was not found")
                query = query.where(_after(column, mark[q.sort_key], mark["id"], q.ascending))
            order = [column.asc(), ns_t.c.id.asc()] if q.ascending else [column.desc(),
                                                                          ns_t.c.id.desc()]
            rows = conn.execute(query.order_by(*order).limit(q.limit)).mappings().all()
        return [_ns(r) for r in rows]

    def update_namespace(self, ns_id: int, fields: NamespaceFields) -> Namespace:
        with self.engine.begin() as conn:
            with _unique(f"Namespace {fields.namespace}"):
                conn.execute(ns_t.update().where(ns_t.c.id == ns_id).values(
                    **asdict(fields), updated_at=utcnow()))
            row = conn.execute(ns_t.select().where(ns_t.c.id == ns_id)).mappings().one()
        return _ns(row)

    def delete_namespace(self, ns_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(ns_t.delete().where(ns_t.c.id == ns_id))

    # --- resource types and associations -----------------------------------------------------

    def resource_types(self) -> list[ResourceType]:
        with self.engine.connect() as conn:
            rows = conn.execute(rt_t.select().order_by(rt_t.c.name)).mappings().all()
        return [ResourceType(**r) for r in rows]

    def associations(self, ns_id: int) -> list[Association]:
        with self.engine.connect() as conn:
            rows = conn.execute(assoc_t.select().where(assoc_t.c.namespace_id == ns_id)
                                .order_by(assoc_t.c.resource_type)).mappings().all()
        return [Association(name=r["resource_type"], prefix=r["prefix"],
                            properties_target=r["properties_target"],
                            created_at=r["created_at"], updated_at=r["updated_at"]) for r in rows]

    def add_association(self, ns_id: int, fields: AssociationFields) -> Association:
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(rt_t.c.name).where(rt_t.c.name == fields.name)
                            ).first() is None:
                raise NotFound(f"Failed to find resource type {fields.name}.")
            with _unique(f"Resource type association {fields.name}"):
                conn.execute(assoc_t.insert().values(
                    namespace_id=ns_id, resource_type=fields.name, prefix=fields.prefix,
                    properties_target=fields.properties_target, created_at=now, updated_at=now))
        return Association(fields.name, fields.prefix, fields.properties_target, now, now)

    def remove_association(self, ns_id: int, resource_type: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(assoc_t.delete().where(
                assoc_t.c.namespace_id == ns_id, assoc_t.c.resource_type == resource_type))
        if done.rowcount == 0:
            raise NotFound(f"Failed to find resource type association {resource_type}.")

    # --- objects, properties, tags ------------------------------------------------------------

    def items(self, ns_id: int, kind: ItemKind) -> list[Item]:
        with self.engine.connect() as conn:
            rows = conn.execute(items_t.select().where(
                items_t.c.namespace_id == ns_id, items_t.c.kind == kind.value
            ).order_by(items_t.c.created_at, items_t.c.name)).mappings().all()
        return [_item(r) for r in rows]

    def get_item(self, ns_id: int, kind: ItemKind, name: str) -> Item:
        with self.engine.connect() as conn:
            row = conn.execute(items_t.select().where(
                items_t.c.namespace_id == ns_id, items_t.c.kind == kind.value,
                items_t.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"Metadata definition {kind} {name} was not found.")
        return _item(row)

    def add_items(self, ns_id: int, kind: ItemKind, entries: Sequence[tuple[str, dict[str, Any]]],
                  *, replace_all: bool = False) -> list[Item]:
        """Insert entries (all or none); ``replace_all`` first drops every item of ``kind``."""
        now = utcnow()
        with self.engine.begin() as conn:
            if replace_all:
                conn.execute(items_t.delete().where(items_t.c.namespace_id == ns_id,
                                                    items_t.c.kind == kind.value))
            for name, body in entries:
                with _unique(f"Metadata definition {kind} {name}"):
                    conn.execute(items_t.insert().values(
                        namespace_id=ns_id, kind=kind.value, name=name, body=json.dumps(body),
                        created_at=now, updated_at=now))
        return [Item(kind, name, body, now, now) for name, body in entries]

    def update_item(self, ns_id: int, kind: ItemKind, name: str, new_name: str,
                    body: dict[str, Any]) -> Item:
        with self.engine.begin() as conn:
            with _unique(f"Metadata definition {kind} {new_name}"):
                done = conn.execute(items_t.update().where(
                    items_t.c.namespace_id == ns_id, items_t.c.kind == kind.value,
                    items_t.c.name == name).values(name=new_name, body=json.dumps(body),
                                                   updated_at=utcnow()))
            if done.rowcount == 0:
                raise NotFound(f"Metadata definition {kind} {name} was not found.")
            row = conn.execute(items_t.select().where(
                items_t.c.namespace_id == ns_id, items_t.c.kind == kind.value,
                items_t.c.name == new_name)).mappings().one()
        return _item(row)

    def delete_items(self, ns_id: int, kind: ItemKind, name: str | None = None) -> None:
        """Delete one item (404 if absent) or, with ``name`` None, every item of ``kind``."""
        query = items_t.delete().where(items_t.c.namespace_id == ns_id,
                                       items_t.c.kind == kind.value)
        if name is not None:
            query = query.where(items_t.c.name == name)
        with self.engine.begin() as conn:
            done = conn.execute(query)
        if name is not None and done.rowcount == 0:
            raise NotFound(f"Metadata definition {kind} {name} was not found.")


def _after(column: sa.ColumnElement[Any], value: object, row_id: int,
           ascending: bool) -> sa.ColumnElement[bool]:
    """Rows after the marker row in the (column, id) order."""
    if ascending:
        return sa.or_(column > value, sa.and_(column == value, ns_t.c.id > row_id))
    return sa.or_(column < value, sa.and_(column == value, ns_t.c.id < row_id))


def _item(row: sa.RowMapping) -> Item:
    return Item(kind=ItemKind(row["kind"]), name=row["name"], body=json.loads(row["body"]),
                created_at=row["created_at"], updated_at=row["updated_at"])
