"""SQL for process owners and their leases (see services/ownership.py)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from datetime import datetime

import sqlalchemy as sa

from cowshed.db.schema import leases, owners
from cowshed.domain.owners import Owner

#: PostgreSQL advisory lock keys of the cross-process exclusive sections ("cowshed" + n).
_ADVISORY_BASE = int.from_bytes(b"cowshed", "big") << 8
_SECTIONS = {"sweep": 1}


class OwnerRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def exclusive(self, section: str) -> Iterator[bool]:
        """Try to enter ``section`` alone among every process of the deployment; yields
        whether we got in (never waits). PostgreSQL: a session advisory lock on a connection
        held for the section. SQLite (one host): an ``flock`` on a file beside the database."""
        if self.engine.dialect.name == "postgresql":
            key = _ADVISORY_BASE + _SECTIONS[section]
            with self.engine.connect() as conn:
                got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                        {"k": key}).scalar())
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
            return
        path = f"{self.engine.url.database or 'memory'}.{section}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[None]:
        """Hold the lock ``name`` (e.g. ``volume:<id>``) against every thread and process of
        the deployment, waiting for it. PostgreSQL: a session advisory lock keyed by a hash
        of the name (a collision only makes two names wait for each other). SQLite (one host):
        an ``flock`` on one of 16 files in a directory beside the database, chosen by the same
        hash (flock is per open file, so threads of one process exclude each other too)."""
        digest = hashlib.sha256(name.encode()).digest()
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(digest[:8], "big", signed=True)
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
            return
        directory = f"{self.engine.url.database or 'memory'}.locks"
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(f"{directory}/{digest[0] >> 4:x}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def register_owner(self, owner: Owner) -> None:
        with self.engine.begin() as conn:
            conn.execute(owners.insert().values(
                id=owner.id, host=owner.host, pid=owner.pid, proc_start=owner.proc_start,
                started_at=owner.started_at, heartbeat_at=owner.heartbeat_at))

    def beat(self, owner_id: str, now: datetime) -> bool:
        """Refresh the heartbeat; False if the row is gone (a sweep judged us dead)."""
        with self.engine.begin() as conn:
            result = conn.execute(owners.update().where(owners.c.id == owner_id)
                                  .values(heartbeat_at=now))
        return bool(result.rowcount)

    def owners_by_id(self, ids: Iterable[str]) -> dict[str, Owner]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(owners.select().where(owners.c.id.in_(wanted))).mappings().all()
        return {r["id"]: _owner(r) for r in rows}

    def all_owners(self) -> list[Owner]:
        with self.engine.connect() as conn:
            return [_owner(r) for r in conn.execute(owners.select()).mappings().all()]

    def forget_owner(self, owner_id: str) -> None:
        """Remove an owner and its leases (a clean exit, or a dead owner once reconciled)."""
        with self.engine.begin() as conn:
            conn.execute(leases.delete().where(leases.c.owner_id == owner_id))
            conn.execute(owners.delete().where(owners.c.id == owner_id))

    def take_lease(self, resource: str, owner_id: str, now: datetime) -> str:
        lease_id = secrets.token_hex(16)
        with self.engine.begin() as conn:
            conn.execute(leases.insert().values(id=lease_id, resource=resource,
                                                owner_id=owner_id, created_at=now))
        return lease_id

    def drop_lease(self, lease_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(leases.delete().where(leases.c.id == lease_id))

    def lease_holders(self, resources: Iterable[str] | None = None) -> dict[str, set[str]]:
        """resource → owner ids holding a lease on it (every resource when None)."""
        query = sa.select(leases.c.resource, leases.c.owner_id)
        if resources is not None:
            wanted = sorted(set(resources))
            if not wanted:
                return {}
            query = query.where(leases.c.resource.in_(wanted))
        held: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for resource, owner_id in conn.execute(query):
                held.setdefault(resource, set()).add(owner_id)
        return held

    def lease_owner_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(leases.c.owner_id).distinct()).scalars())


def _owner(row: sa.RowMapping) -> Owner:
    return Owner(id=row["id"], host=row["host"], pid=row["pid"], proc_start=row["proc_start"],
                 started_at=row["started_at"], heartbeat_at=row["heartbeat_at"])
