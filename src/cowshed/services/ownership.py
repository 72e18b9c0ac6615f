"""Owned work instead of "I am alone": any number of processes share one database and stores.

Every process registers an **owner** (``host:pid:token``) and refreshes its heartbeat every
quarter of ``owner_lease``. Work in progress is covered by **leases** the process takes
*before* it moves a record into a transient state and drops only once the record is final:

* ``image:<id>`` — an upload (``saving``), a stage (``uploading`` while data streams in), an
  import (``importing``, and the import lock), a delete (``deleted`` until the rows go);
* ``task:<id>`` — an import task while ``pending`` or ``processing``.

Recovery and the maintenance sweeps (services/recovery.py) touch a transient record or an
object without a location only when no *live* owner holds a lease on it: an owner whose
heartbeat is older than the lease, or whose pid on this host is gone or reused, is dead. Volumes
use the same owners: their rows name the owner id as their worker (services/volumes/runtime.py).
Partial writes are fenced without the database: a file store's ``.part`` file is ``flock``-ed
by its writer, an RBD ``.incoming.`` image is watched by its writer's open handle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

from cowshed.db.owners import OwnerRepository
from cowshed.domain.clock import utcnow
from cowshed.domain.owners import Owner, owner_alive

log = logging.getLogger(__name__)


def proc_start(pid: int) -> int | None:
    """When local process ``pid`` started (clock ticks since boot), None if it does not run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[-1].split()
    if fields[0] == b"Z":  # a zombie has finished its work
        return None
    return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)


class Lease:
    """One lease held by this process; :meth:`release` (or the ``with`` block) drops it."""

    def __init__(self, repo: OwnerRepository, lease_id: str, resource: str) -> None:
        self._repo = repo
        self.id = lease_id
        self.resource = resource
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._repo.drop_lease(self.id)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Ownership:
    """This process's owner, its heartbeat thread, its leases, and who else is alive."""

    def __init__(self, repo: OwnerRepository, lease: timedelta) -> None:
        self.repo = repo
        self.lease_time = lease
        self.host = socket.gethostname()
        pid = os.getpid()
        now = utcnow()
        self.owner = Owner(id=f"{self.host}:{pid}:{secrets.token_hex(4)}", host=self.host,
                           pid=pid, proc_start=proc_start(pid) or 0, started_at=now,
                           heartbeat_at=now)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self.owner.id

    def start(self) -> None:
        """Register and start beating (idempotent)."""
        if self._thread is not None:
            return
        self.repo.register_owner(self.owner)
        self._thread = threading.Thread(target=self._beat, name="cowshed-owner-heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A clean exit: stop beating and remove our row and any lease left (none should be)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            with contextlib.suppress(Exception):
                self.repo.forget_owner(self.id)

    def _beat(self) -> None:
        interval = max(self.lease_time.total_seconds() / 4, 0.05)
        while not self._stop.wait(interval):
            try:
                if not self.repo.beat(self.id, utcnow()):
                    # a sweep judged us dead (we did not beat in time) and reclaimed our work;
                    # what we still run fails on its compare-and-sets. Serve on, registered anew.
                    log.error("owner %s was declared dead; registering again", self.id)
                    self.repo.register_owner(self.owner)
            except Exception:  # the database may be briefly away; the next beat retries
                log.warning("heartbeat of owner %s failed", self.id, exc_info=True)

    # -- leases ---------------------------------------------------------------------------------

    def lease(self, resource: str) -> Lease:
        return Lease(self.repo, self.repo.take_lease(resource, self.id, utcnow()), resource)

    @contextlib.contextmanager
    def leased(self, resource: str) -> Iterator[Lease]:
        lease = self.lease(resource)
        try:
            yield lease
        finally:
            lease.release()

    # -- liveness -------------------------------------------------------------------------------

    def live(self, owner_ids: Iterable[str]) -> set[str]:
        """The subset of ``owner_ids`` that belong to live owners (we are always live)."""
        ids = set(owner_ids)
        found = self.repo.owners_by_id(ids - {self.id})
        now = utcnow()
        alive = {i for i, o in found.items()
                 if owner_alive(o, now, self.lease_time, self.host, proc_start)}
        return alive | ({self.id} & ids)

    def alive(self, owner_id: str | None) -> bool:
        return bool(owner_id) and owner_id in self.live([owner_id or ""])

    def held(self, resources: Iterable[str]) -> set[str]:
        """The resources among ``resources`` on which a live owner holds a lease."""
        holders = self.repo.lease_holders(resources)
        live = self.live({o for owners in holders.values() for o in owners})
        return {r for r, owners in holders.items() if owners & live}

    def dead_owners(self) -> list[str]:
        """Owners (registered, or named only by leases) that are no longer alive."""
        known = {o.id for o in self.repo.all_owners()} | self.repo.lease_owner_ids()
        return sorted(known - self.live(known))
