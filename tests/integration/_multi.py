"""Helpers for tests with several server processes on one PostgreSQL database and data dir.

A fresh database per test, uploads held half-way over a raw socket, who holds which lease
(which process is doing what), races released at once, and what the data dir holds once
everything settled.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.integration._server import Server

MiB = 1 << 20
_databases = itertools.count()
#: short enough for a test, long enough that a loaded machine never misses a heartbeat.
FAST = 'owner_lease = 10\nmaintenance_interval = 1\n'


def fresh_database(postgres_url: str) -> str:
    name = f"cowshed_own_{os.getpid()}_{next(_databases)}"
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read straight from the database (no server involved)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def lease_pids(url: str) -> dict[str, int]:
    """``image id → pid`` of the process holding a lease on it (``image:<id>``)."""
    rows = query(url, "SELECT resource, owner_id FROM leases WHERE resource LIKE 'image:%'")
    return {str(r).split(":", 1)[1]: int(str(o).split(":")[1]) for r, o in rows}


class SlowUpload:
    """An upload sent in two halves over a raw socket, the second half on demand."""

    def __init__(self, port: int, image_id: str, size: int, kind: str = "file") -> None:
        self.image_id = image_id
        self.data = os.urandom(size)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.sendall((f"PUT /v2/images/{image_id}/{kind} HTTP/1.1\r\nHost: x\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           f"Content-Length: {size}\r\n\r\n").encode() + self.data[: size // 2])

    def finish(self) -> bytes:
        """The answer's head; empty when the server went away (a killed process)."""
        try:
            self.sock.sendall(self.data[len(self.data) // 2:])
            return self.sock.recv(4096)
        except OSError:
            return b""
        finally:
            self.sock.close()


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not reached: {what}"
        time.sleep(0.2)


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (a ``--workers`` server's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` on threads released at once; their results (or the exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # returned, so the caller's assertion shows it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return results


def _transient(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT id, status FROM images WHERE status IN "
                      "('saving', 'importing', 'uploading', 'deleted', 'pending_delete')")


def stuck_records(url: str) -> list[tuple[Any, ...]]:
    """Images in a transient status and open tasks (none may remain once all settled)."""
    return _transient(url) + query(
        url, "SELECT id, status FROM tasks WHERE status IN ('pending', 'processing')")


def data_files(data_dir: Path, kind: str) -> list[str]:
    """Names of the objects in the ``images``/``volumes`` store or the staging area, and
    of anything in its ``.incoming`` (partial writes): ``.incoming/NAME``."""
    root = data_dir / kind
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if p.is_file()]
    incoming = root / ".incoming"
    if incoming.is_dir():
        names += [f".incoming/{p.name}" for p in incoming.iterdir()]
    return sorted(names)


def start_all(servers: list[Server]) -> None:
    """Start the servers at the same time (each start runs start-up recovery)."""
    errors: list[BaseException] = []

    def start(server: Server) -> None:
        try:
            server.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
