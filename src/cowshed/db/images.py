"""SQL for the image aggregate: images with their properties, tags and locations.

Status changes are compare-and-set (``UPDATE … WHERE status = :expected``), so two writers can
never both move an image out of the same status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from cowshed.db.members import member_images
from cowshed.db.schema import (
    VALUE_PREFIX,
    image_locations,
    image_properties,
    image_tags,
    images,
    null_first,
    value_prefix,
    value_rest,
)
from cowshed.domain.clock import utcnow
from cowshed.domain.images import Image, ImageStatus, Location, Visibility
from cowshed.domain.query import Audience, ImageQuery
from cowshed.errors import (
    AlreadyExists,
    Conflict,
    InvalidStatusTransition,
    NotFound,
    StorageFull,
)

_BASE_COLUMNS = (
    "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
    "container_format", "owner", "created_at", "updated_at",
)
#: property names the services own (Glance reserves them from clients too).
_SERVICE_NS = "os_glance"
_NUMERIC = frozenset({"size", "virtual_size", "min_ram", "min_disk"})



class ImageRepository:
    """Every query on the image tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- images ------------------------------------------------------------------------------

    def insert_image(self, image: Image) -> None:
        row = {c: _db_value(getattr(image, c)) for c in _BASE_COLUMNS}
        try:
            with self.engine.begin() as conn:
                conn.execute(images.insert().values(id=image.id, **row))
                self._write_children(conn, image.id, image.properties, image.tags)
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(f"Image with identifier {image.id} already exists!") from exc

    def get_image(self, image_id: str) -> Image:
        with self.engine.connect() as conn:
            return self._load(conn, image_id)

    def update_image(self, image_id: str, change: Callable[[Image], Image]) -> Image:
        """Read, change and write one image under its row lock; returns the image as stored.

        The lock (:func:`_lock_image`) comes first, so concurrent writers of one image (PATCH,
        tags, service properties) run one after another and each ``change`` sees what the
        previous one wrote: no update is lost. ``change`` runs inside the transaction, so it
        must be quick and do no I/O; whatever it raises rolls everything back.

        Properties in the reserved ``os_glance`` namespace (any case) belong to the services
        (:meth:`set_property`) and are left as the database has them.
        """
        with self.engine.begin() as conn:
            if not _lock_image(conn, image_id):
                raise NotFound(f"No image found with ID {image_id}")
            image = change(self._load(conn, image_id))
            values = {c: _db_value(getattr(image, c)) for c in _BASE_COLUMNS if c != "created_at"}
            conn.execute(images.update().where(images.c.id == image_id).values(**values))
            conn.execute(image_properties.delete().where(
                image_properties.c.image_id == image_id, ~_service_owned(image_properties.c.name)))
            conn.execute(image_tags.delete().where(image_tags.c.image_id == image_id))
            client = {k: v for k, v in image.properties.items() if not is_service_owned(k)}
            self._write_children(conn, image_id, client, image.tags)
            return self._load(conn, image_id)

    def _load(self, conn: sa.Connection, image_id: str) -> Image:
        row = conn.execute(images.select().where(images.c.id == image_id)).mappings().first()
        if row is None:
            raise NotFound(f"No image found with ID {image_id}")
        return self._hydrate(conn, [row])[0]

    def set_status(
        self, image_id: str, expect: ImageStatus | Sequence[ImageStatus], new: ImageStatus,
        *, formats: tuple[str | None, str | None] | None = None, **columns: object,
    ) -> None:
        """Compare-and-set the status (plus other base columns) in one statement.

        ``formats`` (disk_format, container_format) adds them to the comparison: data written
        and inspected for one pair of formats is published only under that pair (Conflict
        if a PATCH changed them meanwhile).
        """
        expected = [expect] if isinstance(expect, ImageStatus) else list(expect)
        values = {k: _db_value(v) for k, v in columns.items() if k in _BASE_COLUMNS}
        with self.engine.begin() as conn:
            stmt = (
                images.update()
                .where(images.c.id == image_id, images.c.status.in_([str(s) for s in expected]))
                .values(status=str(new), updated_at=utcnow(), **values)
            )
            if formats is not None:
                stmt = stmt.where(images.c.disk_format.is_not_distinct_from(formats[0]),
                                  images.c.container_format.is_not_distinct_from(formats[1]))
            if conn.execute(stmt).rowcount != 1:
                self._raise_missing_or_moved(conn, image_id, expected, formats)

    def set_property(self, image_id: str, name: str, value: str | None) -> None:
        """Set (or, with None, remove) one extra property without touching the rest."""
        with self.engine.begin() as conn:
            _lock_image(conn, image_id)
            conn.execute(image_properties.delete().where(
                image_properties.c.image_id == image_id, image_properties.c.name == name))
            if value is not None:
                conn.execute(image_properties.insert().values(
                    image_id=image_id, name=name, value=value))

    def claim_property(self, image_id: str, name: str, value: str) -> bool:
        """Atomically set ``name`` only if it is absent (an import lock); True if we got it."""
        try:
            with self.engine.begin() as conn:
                conn.execute(image_properties.insert().values(
                    image_id=image_id, name=name, value=value))
        except sa.exc.IntegrityError:
            return False
        return True

    def release_property(self, image_id: str, name: str, value: str) -> bool:
        """Atomically remove ``name`` only if it still is ``value`` (releasing or breaking an
        import lock must not drop a lock someone else took meanwhile); True if removed."""
        with self.engine.begin() as conn:
            gone = conn.execute(image_properties.delete().where(
                image_properties.c.image_id == image_id, image_properties.c.name == name,
                image_properties.c.value == value)).rowcount
        return bool(gone)

    def ids_with_property(self, name: str) -> list[str]:
        """Ids of the images whose extra property ``name`` is set and not empty."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(image_properties.c.image_id).where(
                image_properties.c.name == name, image_properties.c.value != ""))
            return [r[0] for r in rows]

    def _raise_missing_or_moved(
        self, conn: sa.Connection, image_id: str, expect: Sequence[ImageStatus],
        formats: tuple[str | None, str | None] | None = None,
    ) -> None:
        row = conn.execute(sa.select(images.c.status, images.c.disk_format,
                                     images.c.container_format)
                           .where(images.c.id == image_id)).first()
        if row is None:
            raise NotFound(f"No image found with ID {image_id}")
        if row[0] in [str(s) for s in expect] and formats is not None:
            raise Conflict(f"Image {image_id}: disk_format/container_format changed to "
                           f"{row[1]}/{row[2]} while its data was handled as "
                           f"{formats[0]}/{formats[1]}; nothing was published")
        raise InvalidStatusTransition(
            f"Image {image_id} is {row[0]}, expected {expect[0]}; it changed concurrently"
        )

    def delete_image(self, image_id: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(images.delete().where(images.c.id == image_id)).rowcount != 1:
                raise NotFound(f"No image found with ID {image_id}")

    def add_location(self, image_id: str, location: Location) -> None:
        """Record a copy; NotFound if the image row is gone, AlreadyExists for a second copy
        in the same store."""
        try:
            with self.engine.begin() as conn:
                conn.execute(image_locations.insert().values(
                    image_id=image_id, store=location.store, url=location.url,
                    created_at=utcnow()))
        except sa.exc.IntegrityError as exc:
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(images.c.id).where(images.c.id == image_id))
                if found.first() is None:
                    raise NotFound(f"No image found with ID {image_id}") from exc
            raise AlreadyExists(
                f"Image {image_id} already has a location in store {location.store}") from exc

    def remove_location(self, image_id: str, store: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(image_locations.delete().where(
                image_locations.c.image_id == image_id, image_locations.c.store == store))

    def located_keys(self, store: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(image_locations.c.image_id).where(
                image_locations.c.store == store))
            return {r[0] for r in rows}

    def ids_in_status(self, statuses: Iterable[ImageStatus]) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(images.c.id).where(
                images.c.status.in_([str(s) for s in statuses])))
            return [r[0] for r in rows]

    def list_images(self, query: ImageQuery) -> list[Image]:
        sort = list(query.sort)
        if not any(key == "id" for key, _ in sort):
            sort.append(("id", sort[-1][1] if sort else "desc"))
        with self.engine.connect() as conn:
            stmt = images.select()
            for cond in self._conditions(query):
                stmt = stmt.where(cond)
            if query.marker is not None:
                stmt = stmt.where(self._after_marker(conn, query.marker, sort))
            order = [_sort_expr(k).asc() if d == "asc" else _sort_expr(k).desc() for k, d in sort]
            rows = conn.execute(stmt.order_by(*order).limit(query.limit)).mappings().all()
            return self._hydrate(conn, list(rows))

    def _conditions(self, query: ImageQuery) -> list[sa.ColumnElement[bool]]:
        conds: list[sa.ColumnElement[bool]] = []
        for f in query.filters:
            col = images.c[f.column]
            conds.append(_compare(col, f.op, f.value))
        for tag in query.tags:
            conds.append(images.c.id.in_(
                sa.select(image_tags.c.image_id).where(image_tags.c.value == tag)))
        for name, value in query.properties.items():
            conds.append(images.c.id.in_(sa.select(image_properties.c.image_id).where(
                image_properties.c.name == name,
                value_prefix(image_properties.c.value) == value[:VALUE_PREFIX],
                value_rest(image_properties.c.value) == value[VALUE_PREFIX:])))
        if query.audience is not None:
            conds.append(_seen_by(query.audience))
        return conds

    def _after_marker(
        self, conn: sa.Connection, marker: str, sort: list[tuple[str, str]]
    ) -> sa.ColumnElement[bool]:
        row = conn.execute(images.select().where(images.c.id == marker)).mappings().first()
        if row is None:
            raise NotFound(f"marker {marker} could not be found")
        clauses = []
        for i, (key, direction) in enumerate(sort):
            equal = [_sort_expr(k) == _sort_value(k, row[k]) for k, _ in sort[:i]]
            expr, value = _sort_expr(key), _sort_value(key, row[key])
            beyond = expr > value if direction == "asc" else expr < value
            clauses.append(sa.and_(*equal, beyond))
        # Implied by the OR, but a range on the first key alone is what lets both databases
        # start the index walk at the marker instead of filtering every row before it.
        first, direction = sort[0]
        expr, value = _sort_expr(first), _sort_value(first, row[first])
        return sa.and_(expr >= value if direction == "asc" else expr <= value, sa.or_(*clauses))

    def _hydrate(self, conn: sa.Connection, rows: list[sa.RowMapping]) -> list[Image]:
        ids = [r["id"] for r in rows]
        props: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, list[str]] = {i: [] for i in ids}
        locs: dict[str, list[Location]] = {i: [] for i in ids}
        if ids:
            for p in conn.execute(image_properties.select().where(
                    image_properties.c.image_id.in_(ids))):
                props[p.image_id][p.name] = p.value
            for t in conn.execute(image_tags.select().where(image_tags.c.image_id.in_(ids))
                                  .order_by(image_tags.c.value)):
                tags[t.image_id].append(t.value)
            for loc in conn.execute(image_locations.select().where(
                    image_locations.c.image_id.in_(ids)).order_by(image_locations.c.created_at)):
                locs[loc.image_id].append(Location(store=loc.store, url=loc.url))
        return [_to_image(r, props[r["id"]], tags[r["id"]], locs[r["id"]]) for r in rows]

    @staticmethod
    def _write_children(
        conn: sa.Connection, image_id: str, props: Mapping[str, str], tags: Iterable[str]
    ) -> None:
        prop_rows = [{"image_id": image_id, "name": k, "value": v} for k, v in props.items()]
        tag_rows = [{"image_id": image_id, "value": t} for t in dict.fromkeys(tags)]
        if prop_rows:
            conn.execute(image_properties.insert(), prop_rows)
        if tag_rows:
            conn.execute(image_tags.insert(), tag_rows)

    def add_tag(self, image_id: str, tag: str, quota: int) -> None:
        """Add ``tag`` unless the image already has ``quota`` others (StorageFull); the count
        is taken under the image's row lock, so concurrent adds cannot pass the quota."""
        with self.engine.begin() as conn:
            if not _lock_image(conn, image_id):
                raise NotFound(f"No image found with ID {image_id}")
            held = [r[0] for r in conn.execute(sa.select(image_tags.c.value).where(
                image_tags.c.image_id == image_id))]
            if tag in held:
                return
            if len(held) >= quota:
                raise StorageFull(f"Maximum number of tags ({quota}) exceeded")
            conn.execute(image_tags.insert().values(image_id=image_id, value=tag))

    def remove_tag(self, image_id: str, tag: str) -> None:
        with self.engine.begin() as conn:
            _lock_image(conn, image_id)
            gone = conn.execute(image_tags.delete().where(
                image_tags.c.image_id == image_id, image_tags.c.value == tag)).rowcount
            if gone != 1:
                raise NotFound(f"Tag {tag} not found")


def _lock_image(conn: sa.Connection, image_id: str) -> bool:
    """Move ``updated_at`` to now as a transaction's first write, which locks the image row;
    False if there is no such image.

    Every write that reads before it writes, or replaces properties or tags, starts so, and
    concurrent writers of one image queue in one order: on PostgreSQL the row lock holds the
    others until commit (they would otherwise deadlock, insert the same property twice, or lose
    each other's updates). SQLite takes its database-wide write lock at this first write, so
    there too the reads that follow see every earlier writer's work.
    """
    stmt = images.update().where(images.c.id == image_id).values(updated_at=utcnow())
    return bool(conn.execute(stmt).rowcount)


def is_service_owned(name: str) -> bool:
    """Property names in the reserved ``os_glance`` namespace, in any case (Glance reserves
    them from clients; SQLite's LIKE ignores case, so must every other check)."""
    return name.lower().startswith(_SERVICE_NS)


def _service_owned(column: sa.Column[str]) -> sa.ColumnElement[bool]:
    return sa.func.lower(column).startswith(_SERVICE_NS, autoescape=True)


def _seen_by(audience: Audience) -> sa.ColumnElement[bool]:
    """The images a non-admin project may list (see Audience)."""
    seen = [images.c.visibility == str(Visibility.PUBLIC)]
    if audience.project_id is not None:
        seen.append(images.c.owner == audience.project_id)
        seen.append(sa.and_(images.c.visibility == str(Visibility.SHARED), images.c.id.in_(
            member_images(audience.project_id, audience.member_status))))
    if audience.community:
        seen.append(images.c.visibility == str(Visibility.COMMUNITY))
    return sa.or_(*seen)


def _db_value(value: object) -> object:
    if isinstance(value, ImageStatus | Visibility):
        return str(value)
    return value


def _sort_expr(key: str) -> sa.ColumnElement[Any]:
    """NULL sorts as -1 or "" (first ascending on every dialect: SQLite puts NULLs first,
    PostgreSQL last). Only nullable columns: PostgreSQL rejects COALESCE(timestamp, '')."""
    col = images.c[key]
    if not col.nullable:
        return col
    return null_first(col, "-1" if key in _NUMERIC else "''")


def _sort_value(key: str, value: object) -> object:
    if value is None:
        return -1 if key in _NUMERIC else ""
    return value


def _compare(col: sa.Column[Any], op: str, value: object) -> sa.ColumnElement[bool]:
    if op == "in":
        assert isinstance(value, list | tuple)
        return col.in_(list(value))
    ops = {
        "eq": col.__eq__, "neq": col.__ne__, "gt": col.__gt__, "gte": col.__ge__,
        "lt": col.__lt__, "lte": col.__le__,
    }
    result: sa.ColumnElement[bool] = ops[op](value)
    return result


def _to_image(row: sa.RowMapping, props: dict[str, str], tags: list[str],
              locs: list[Location]) -> Image:
    return Image(
        id=row["id"], name=row["name"], status=ImageStatus(row["status"]),
        visibility=Visibility(row["visibility"]), protected=bool(row["protected"]),
        os_hidden=bool(row["os_hidden"]), checksum=row["checksum"],
        os_hash_algo=row["os_hash_algo"], os_hash_value=row["os_hash_value"],
        size=row["size"], virtual_size=row["virtual_size"], min_ram=row["min_ram"],
        min_disk=row["min_disk"], disk_format=row["disk_format"],
        container_format=row["container_format"], owner=row["owner"],
        created_at=row["created_at"], updated_at=row["updated_at"], tags=tuple(tags),
        properties=props, locations=tuple(locs),
    )


