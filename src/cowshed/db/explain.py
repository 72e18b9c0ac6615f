"""The database's own plan for the statements a piece of code runs (SQLite and PostgreSQL).

Used by ``bench/load.py --explain`` and by the tests that pin list queries to indexes: run the
code with :func:`captured`, then ask :func:`plan` for each statement it sent.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Any


@dataclass(frozen=True)
class Plan:
    """One statement's plan as the database prints it, one node per line."""

    sql: str
    lines: tuple[str, ...]
    dialect: str = field(default="sqlite")

    def full_scans(self, tables: frozenset[str]) -> list[str]:
        """The plan lines that read every row of one of ``tables`` (no index at all).

        SQLite prints ``SCAN images`` for a table scan (``SCAN images USING INDEX …`` walks an
        index, ``SEARCH`` seeks one); PostgreSQL prints ``Seq Scan on images``.
        """
        found = []
        for line in self.lines:
            if self.dialect == "sqlite":
                m = re.search(r"\bSCAN (\w+)(?: AS \w+)?\s*$", line.strip())
            else:
                m = re.search(r"Seq Scan on (\w+)", line)
            if m and m.group(1) in tables:
                found.append(line.strip())
        return found


@contextlib.contextmanager
def captured(engine: sa.Engine) -> Iterator[list[Statement]]:
    """Record every SELECT sent on ``engine`` inside the block (in order)."""
    seen: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append(Statement(sql, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def plan(engine: sa.Engine, statement: Statement) -> Plan:
    """The plan ``engine``'s database chooses for ``statement`` with its own parameters."""
    dialect = engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement.sql, statement.params).all()
    lines = tuple(str(r[-1]) if dialect == "sqlite" else str(r[0]) for r in rows)
    return Plan(statement.sql, lines, dialect)
