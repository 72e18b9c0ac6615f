"""Paged, sorted, filtered lists over one table (Cinder's marker/limit/offset pagination)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from cowshed.domain.query import Filter, VolumeQuery
from cowshed.errors import InvalidRequest, NotFound


@dataclass(frozen=True)
class Page:
    rows: list[sa.RowMapping]
    count: int | None


def _sort_expr(table: sa.Table, key: str) -> sa.ColumnElement[Any]:
    """NULL sorts as "" (nullable text columns only), first ascending on every dialect."""
    col = table.c[key]
    if not col.nullable or not isinstance(col.type, sa.String | sa.Text):
        return col
    return sa.func.coalesce(col, "")


def _sort_value(table: sa.Table, key: str, value: object) -> object:
    if value is None and isinstance(table.c[key].type, sa.String | sa.Text):
        return ""
    return value


def condition(table: sa.Table, f: Filter, aliases: dict[str, str]) -> sa.ColumnElement[bool]:
    """One filter as SQL; a filter on a column the table lacks matches only None."""
    name = aliases.get(f.column, f.column)
    if name not in table.c:
        return sa.true() if f.value is None else sa.false()
    col = table.c[name]
    if f.op == "like":
        return col.contains(str(f.value), autoescape=True)
    if f.op == "in":
        assert isinstance(f.value, list | tuple)
        return col.in_([_typed(col, f.column, v) for v in f.value])
    ops = {"eq": col.__eq__, "neq": col.__ne__, "gt": col.__gt__, "gte": col.__ge__,
           "lt": col.__lt__, "lte": col.__le__}
    if f.op not in ops:
        raise InvalidRequest(f"unknown filter operator {f.op!r}")
    result: sa.ColumnElement[bool] = ops[f.op](_typed(col, f.column, f.value))
    return result


def _typed(col: sa.Column[Any], name: str, value: object) -> object:
    """A query-string value as the column's type: PostgreSQL will not compare an integer column
    with text (SQLite would), so ``size=2`` becomes 2 and ``size=big`` a 400 on both."""
    if isinstance(value, str) and isinstance(col.type, sa.Integer):
        try:
            return int(value.strip())
        except ValueError:
            raise InvalidRequest(
                f"Invalid filter value {value!r} for {name}: an integer is required") from None
    return value


def page(
    conn: sa.Connection, table: sa.Table, query: VolumeQuery,
    conditions: Iterable[sa.ColumnElement[bool]], sort_keys: frozenset[str],
) -> Page:
    """One page of ``table`` rows: conditions, sort (id last, as a tie-breaker), marker, offset,
    limit; and the count of every match when ``query.with_count``."""
    sort = list(query.sort) or [("created_at", "desc")]
    for key, direction in sort:
        if key not in sort_keys or key not in table.c:
            raise InvalidRequest(f"Invalid sort key {key!r}")
        if direction not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid sort direction {direction!r}")
    if not any(key == "id" for key, _ in sort):
        sort.append(("id", sort[-1][1]))
    conds = list(conditions)
    count = None
    if query.with_count:
        count = int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                 .where(sa.and_(sa.true(), *conds))).scalar_one())
    stmt = table.select().where(sa.and_(sa.true(), *conds))
    if query.marker is not None:
        stmt = stmt.where(_after_marker(conn, table, query.marker, sort, conds))
    order = [_sort_expr(table, k).asc() if d == "asc" else _sort_expr(table, k).desc()
             for k, d in sort]
    stmt = stmt.order_by(*order).offset(query.offset)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return Page(list(conn.execute(stmt).mappings().all()), count)


def _after_marker(
    conn: sa.Connection, table: sa.Table, marker: str, sort: list[tuple[str, str]],
    conds: list[sa.ColumnElement[bool]],
) -> sa.ColumnElement[bool]:
    row = conn.execute(table.select().where(table.c.id == marker, *conds)).mappings().first()
    if row is None:
        raise NotFound(f"Marker {marker} could not be found.")
    clauses = []
    for i, (key, direction) in enumerate(sort):
        equal = [_sort_expr(table, k) == _sort_value(table, k, row[k]) for k, _ in sort[:i]]
        expr, value = _sort_expr(table, key), _sort_value(table, key, row[key])
        beyond = expr > value if direction == "asc" else expr < value
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)
