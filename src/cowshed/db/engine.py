"""Engine set-up: SQLite pragmas (WAL, foreign keys, busy timeout) or a PostgreSQL pool."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cowshed.config_rules import redact_url
from cowshed.errors import ConfigError

#: PostgreSQL advisory lock key taken while migrating (any fixed number: "cowshed" in ASCII).
_MIGRATION_LOCK = int.from_bytes(b"cowshed", "big")
_MIGRATIONS = Path(__file__).parent / "migrations"
#: ``revision = "0002"`` / ``down_revision = "0001"`` (or None) in a migration file.
_REVISION_LINE = re.compile(
    r"""^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(None|"[^"\n]*"|'[^'\n]*')\s*$""", re.M)


def create_engine(url: str) -> sa.Engine:
    """Create the engine for ``url`` and bring the schema to the newest migration."""
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        try:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"database_url {redact_url(url)!r}: {exc}") from exc
    try:
        upgrade(engine)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise ConfigError(_unreachable(url, exc)) from exc
    return engine


def _unreachable(url: str, exc: sa.exc.OperationalError) -> str:
    """One line for a database that cannot be opened at start-up, with what to check."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if url.startswith("sqlite"):
        return f"cannot open the database {url}: {reason}; check that the data dir is " \
               f"writable"
    return f"cannot reach the database {redact_url(url)}: {reason}; check database_url and " \
           f"that PostgreSQL runs and accepts connections"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def upgrade(engine: sa.Engine) -> None:
    """Run Alembic migrations up to head on ``engine``.

    A database already at the newest migration (every open but the first) is recognised
    without Alembic, whose import alone costs more than a ``cowshed image list``.
    """
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes started together on an empty database would all create the tables, and
            # all but one fail; this lock (held to commit) makes them migrate one after another.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files without Alembic; None
    unless they form one line from a single head (Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        if "down_revision" not in found:  # a merge (tuple) or a form this reader does not know
            return None
        revisions.add(found["revision"].strip("'\""))
        if found["down_revision"] != "None":
            parents.add(found["down_revision"].strip("'\""))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _at_head(engine: sa.Engine) -> bool:
    """True when the database records exactly the newest migration as applied. Anything else
    (a new database, an older schema, an unreachable server) goes through Alembic, which
    migrates or raises the error start-up reports."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            applied = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    except sa.exc.DBAPIError:
        return False
    return [row[0] for row in applied] == [head]
