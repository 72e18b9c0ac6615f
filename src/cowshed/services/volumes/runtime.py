"""What every volume operation shares: records, stores, policies, the worker pool, progress.

Long operations run on the pool (Cinder's API answers 202 and the volume manager works on). The
process is identified by a worker id written on each row it works on, with a heartbeat lease, so
restart recovery — here or in another process sharing the database — only takes over rows whose
worker is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from cowshed.db.repository import VolumeRepositories
from cowshed.db.schema import volume_snapshots, volumes
from cowshed.db.volume_types import VolumeTypeRepository
from cowshed.domain.clock import utcnow
from cowshed.domain.context import ADMIN_ROLE, MEMBER_ROLE, READER_ROLE, RequestContext, new_request_id
from cowshed.domain.volumes import Caller, Progress
from cowshed.errors import NotFound
from cowshed.formats.qemu_img import QemuImg, default_qemu_img
from cowshed.services.context import Deps
from cowshed.services.health import BackendGate
from cowshed.services.volumes.config import ClonePolicy, VolumeBackendSpec, build_backend
from cowshed.services.volumes.stores import VolumeStore
from cowshed.services.volumes.types import VolumeTypes

log = logging.getLogger(__name__)
GiB = 1 << 30
#: how often a running operation refreshes its rows' heartbeat.
HEARTBEAT = timedelta(seconds=20)
#: a row whose worker has not beaten for this long is taken over by recovery.
LEASE = timedelta(seconds=120)


def process_worker_id() -> str:
    """``host:pid:random``: unique per process, and tells recovery which host's pid to check."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def worker_alive(worker: str | None, heartbeat: object) -> bool:
    """Whether the process named ``worker`` may still be working on a row.

    On this host the pid decides; elsewhere the heartbeat lease does.
    """
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return heartbeat is not None and utcnow() - heartbeat < LEASE  # type: ignore[operator]


def context_of(caller: Caller) -> RequestContext:
    """The image services' request context for a volume caller."""
    roles = {MEMBER_ROLE, READER_ROLE} | ({ADMIN_ROLE} if caller.is_admin else set())
    return RequestContext(user_id=caller.user_id, project_id=caller.project_id,
                          roles=frozenset(roles), is_admin=caller.is_admin,
                          request_id=new_request_id())


class Runtime:
    """Shared state of the volume service (one per process)."""

    def __init__(self, deps: Deps, qemu: QemuImg | None = None) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.db = VolumeRepositories(deps.repo.engine)
        self.type_repo = VolumeTypeRepository(deps.repo.engine)
        self.types = VolumeTypes(deps.settings, self.type_repo)
        self.qemu = qemu or default_qemu_img()
        self.scratch: Path = deps.settings.staging_dir / "volumes"
        # the process's owner id (services/ownership.py): the same owner and heartbeat lease
        # decide for volume rows as for images and tasks
        self.worker = deps.owners.id
        self._backends: dict[str, VolumeBackendSpec] = {}
        self.gate = BackendGate(deps.pools.blocking)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cowshed-volume")
        self._running: dict[str, Future[None]] = {}
        self._progress: dict[str, Progress] = {}
        self._closed = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="cowshed-volume-heartbeat",
                                      daemon=True)
        self._beat.start()

    def volume_lock(self, volume_id: str) -> contextlib.AbstractContextManager[None]:
        """The lock on one volume's clone snapshots, across every process of the deployment:
        choosing a clone snapshot and recording the clone as its dependant happen under it,
        and so does a reclaim's decision to drop one (services/volumes/lineage.py)."""
        return self.deps.owners.repo.held(f"volume:{volume_id}")

    # -- stores ---------------------------------------------------------------------------------

    def backend_name(self, type_name: str) -> str:
        """The ``[volume_backends.NAME]`` a volume type's volumes live on."""
        return self.types.backend_of(type_name)

    def backend(self, type_name: str) -> VolumeBackendSpec:
        """The store and policy of a volume type's backend, built on first use."""
        return self.backend_by_name(self.backend_name(type_name))

    def backend_by_name(self, name: str) -> VolumeBackendSpec:
        """The store and policy of the volume backend ``name`` (ConfigError if bad)."""
        with self._lock:
            spec = self._backends.get(name)
            if spec is None:
                settings = next((b for b in self.settings.effective_volume_backends()
                                 if b.name == name), None)
                if settings is None:
                    raise NotFound(f"Volume backend {name} is not configured.")
                spec = build_backend(settings, self.qemu, self.scratch)
                self._backends[name] = spec
            return spec

    def store(self, type_name: str) -> VolumeStore:
        """The store of a volume type (by the type's backend)."""
        return self.backend(type_name).store

    def require_reachable(self, *type_names: str) -> None:
        """BackendUnavailable (503) unless the backend of each volume type answers now: called
        before a request hands backend work to a worker, so an unreachable backend fails the
        request and changes nothing, instead of leaving the volume in an error status."""
        for name in dict.fromkeys(type_names):
            self.gate.require(self.store(name).backend,
                              f"Volume backend {self.backend_name(name)!r}")

    def policy(self, type_name: str) -> ClonePolicy:
        return self.backend(type_name).policy

    def stores(self) -> list[VolumeStore]:
        """Every configured backend's store."""
        return [self.backend_by_name(b.name).store
                for b in self.settings.effective_volume_backends()]

    # -- workers --------------------------------------------------------------------------------

    def submit(self, object_id: str, what: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pool; its errors are logged (``fn`` records the outcome itself)."""
        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("volume operation %s on %s failed", what, object_id)
            finally:
                with self._lock:
                    self._running.pop(object_id, None)
                    self._progress.pop(object_id, None)
        with self._lock:
            self._running[object_id] = self._pool.submit(run)

    def wait_local(self, object_id: str, timeout: float) -> None:
        """Wait for this process's operation on ``object_id``, if one runs."""
        with self._lock:
            future = self._running.get(object_id)
        if future is not None:
            with contextlib.suppress(Exception):
                future.result(timeout)

    def report(self, object_id: str, what: str) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            self._progress[object_id] = Progress(done=done, total=total, what=what)
        return progress

    def progress(self, object_id: str) -> Progress | None:
        return self._progress.get(object_id)

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def _heartbeat(self) -> None:
        while not self._closed.wait(HEARTBEAT.total_seconds()):
            self.beat()

    def worker_alive(self, worker: str | None, heartbeat: object) -> bool:
        """Whether the process named ``worker`` may still work on a row: by the owners'
        registry for an owner id, by the pid and the row's own heartbeat for a worker id
        written before owners existed."""
        if not worker:
            return False
        owners = self.deps.owners
        if owners.alive(worker):
            return True
        if owners.repo.owners_by_id([worker]):
            return False  # a registered owner that is not alive
        return worker_alive(worker, heartbeat)

    def beat(self) -> None:
        """Refresh the lease of every row this process works on."""
        ids = self.running()
        if not ids:
            return
        now = utcnow()
        with contextlib.suppress(sa.exc.SQLAlchemyError), self.db.engine.begin() as conn:
            for table in (volumes, volume_snapshots):
                conn.execute(table.update().where(table.c.id.in_(ids),
                                                  table.c.worker == self.worker)
                             .values(heartbeat_at=now))

    @contextlib.contextmanager
    def scratch_dir(self) -> Iterator[Path]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        yield self.scratch

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=False)
        for spec in self._backends.values():
            with contextlib.suppress(Exception):
                spec.store.backend.close()
