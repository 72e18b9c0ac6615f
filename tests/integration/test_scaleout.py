"""Two and four server processes on one PostgreSQL database and one data dir: one process
uploads, imports and deletes while the others start, restart and are SIGKILLed over and over.

No upload of the live process is broken, no image is left wrong or stuck, nothing is lost and
nothing is left over in the data dir. Two ways to run several processes are covered: separate
``cowshed serve`` processes (``data_dir_lock = false``, as on several hosts) and one
``cowshed serve --workers N`` whose workers are killed and replaced by its parent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration._multi import (
    FAST,
    MiB,
    SlowUpload,
    children,
    data_files,
    fresh_database,
    lease_pids,
    query,
    start_all,
    stuck_records,
    wait_for,
)
from tests.integration._server import Server, create_image, md5, random_raw

GLANCE_DIRECT = {"method": {"name": "glance-direct"}}
#: what the sweep writes into a task whose process died (services/recovery.py)
INTERRUPTED = "Interrupted by a restart of the service"
OCTET = {"Content-Type": "application/octet-stream"}
CYCLES = 2


@dataclass
class Deployment:
    data_dir: Path
    config: Path
    db_url: str

    def server(self, name: str, *args: str) -> Server:
        return Server(self.data_dir, self.config, name=name, args=args)


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str) -> Deployment:
    db_url = fresh_database(postgres_url)
    config = tmp_path / "cowshed.toml"
    config.write_text(f'database_url = "{db_url}"\ndata_dir_lock = false\nlog_format = "json"\n'
                      f"shutdown_grace = 1\n{FAST}")
    return Deployment(tmp_path / "data", config, db_url)


@dataclass
class Workload:
    """Uploads, glance-direct imports and deletes in a loop on one URL, each checked.

    ``tolerant``: a request whose connection breaks (its worker was killed, ``--workers``)
    or an import failed by a sweep because its worker died is a casualty, not a failure;
    anything else unexpected is a failure.
    """

    url: str
    tolerant: bool = False
    active: dict[str, bytes] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    #: deletes sent whose answer never came: the image is gone, or intact
    deleting: dict[str, bytes] = field(default_factory=dict)
    #: what was sent to each image's stage (its import may have been cut off by a kill)
    staged: dict[str, bytes] = field(default_factory=dict)
    casualties: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rounds: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            while not self.stop.is_set():
                try:
                    self._round(client)
                except httpx.TransportError as exc:
                    (self.casualties if self.tolerant else self.failures).append(repr(exc))
                except AssertionError as exc:
                    self.failures.append(str(exc))
                self.rounds += 1

    def _round(self, client: httpx.Client) -> None:
        data = random_raw(MiB + self.rounds)
        image_id = create_image(client)
        resp = client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTET)
        assert resp.status_code == 204, f"upload {image_id}: {resp.status_code} {resp.text}"
        self.active[image_id] = data
        staged = random_raw(MiB // 2 + self.rounds)
        image_id = create_image(client)
        self.staged[image_id] = staged
        resp = client.put(f"/v2/images/{image_id}/stage", content=staged, headers=OCTET)
        assert resp.status_code == 204, f"stage {image_id}: {resp.status_code} {resp.text}"
        resp = client.post(f"/v2/images/{image_id}/import", json=GLANCE_DIRECT)
        assert resp.status_code == 202, f"import {image_id}: {resp.status_code} {resp.text}"
        self._wait_import(client, image_id, staged)
        if len(self.active) > 3:
            victim = next(iter(self.active))
            # until its answer comes, the delete may or may not happen (a killed worker)
            self.deleting[victim] = self.active.pop(victim)
            resp = client.delete(f"/v2/images/{victim}")
            assert resp.status_code == 204, f"delete {victim}: {resp.status_code} {resp.text}"
            del self.deleting[victim]
            self.deleted.append(victim)

    def _wait_import(self, client: httpx.Client, image_id: str, data: bytes) -> None:
        deadline = time.monotonic() + 120
        while (status := client.get(f"/v2/images/{image_id}").json()["status"]) != "active":
            assert time.monotonic() < deadline, f"import {image_id} stuck in {status}"
            if status == "queued":  # the import failed: only a killed worker may cause that
                tasks = self._ended_tasks(client, image_id)  # a sweep requeues, then fails it
                messages = [t["message"] for t in tasks if t["status"] == "failure"]
                assert self.tolerant and messages == [INTERRUPTED], \
                    f"import {image_id} failed: {tasks}"
                self.casualties.append(f"import {image_id}")
                return
            time.sleep(0.05)
        self.active[image_id] = data

    @staticmethod
    def _ended_tasks(client: httpx.Client, image_id: str) -> list[dict[str, object]]:
        deadline = time.monotonic() + 60
        while True:
            tasks: list[dict[str, object]] = \
                client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
            if all(t["status"] in ("success", "failure") for t in tasks):
                return tasks
            assert time.monotonic() < deadline, f"tasks of {image_id} stay open: {tasks}"
            time.sleep(0.1)

    @contextlib.contextmanager
    def running(self) -> Iterator[Workload]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            thread.join(timeout=300)
        assert not thread.is_alive(), "the workload hung"


def check_settled(deployment: Deployment, server: Server, workload: Workload,
                  processes: int) -> None:
    """Everything the workload made is intact, nothing is stuck, nothing is left over, and
    only the ``processes`` running are registered as owners (the dead ones were forgotten)."""
    url = deployment.db_url
    wait_for(lambda: len(query(url, "SELECT id FROM owners")) == processes,
             what=f"owners {query(url, 'SELECT id FROM owners')}")
    if workload.tolerant:
        _import_what_waits(deployment, server, workload)
    wait_for(lambda: not stuck_records(url), what=f"stuck: {stuck_records(url)}")
    wait_for(lambda: not query(url, "SELECT 1 FROM leases"), what="leases left")
    with server.client() as client:
        for image_id, data in workload.active.items():
            record = client.get(f"/v2/images/{image_id}").json()
            assert (record["status"], record["checksum"]) == ("active", md5(data)), record
            assert record["os_hash_value"] == hashlib.sha512(data).hexdigest()
            assert client.get(f"/v2/images/{image_id}/file").content == data
        for image_id in workload.deleted:
            assert client.get(f"/v2/images/{image_id}").status_code == 404
        for image_id, data in workload.deleting.items():  # cut off: all or nothing
            resp = client.get(f"/v2/images/{image_id}")
            if resp.status_code != 404:
                assert resp.json()["checksum"] == md5(data), resp.text
                assert client.get(f"/v2/images/{image_id}/file").content == data
    # every object in the store belongs to an active image; no partial write, no staged data
    active = {i for (i,) in query(url, "SELECT id FROM images WHERE status = 'active'")}
    wait_for(lambda: set(data_files(deployment.data_dir, "images")) == active,
             what=f"store {data_files(deployment.data_dir, 'images')} vs active {active}")
    assert set(workload.active) <= active
    wait_for(lambda: data_files(deployment.data_dir, "staging") == [],
             what=f"staging {data_files(deployment.data_dir, 'staging')}")


def _import_what_waits(deployment: Deployment, server: Server, workload: Workload) -> None:
    """A stage finished but its answer or its import was cut off by a kill: the image waits in
    ``uploading`` with its staged data (as in Glance), and importing it now works."""
    url = deployment.db_url
    wait_for(lambda: not query(url, "SELECT 1 FROM leases"), what="leases left")
    waiting = [i for (i,) in query(url, "SELECT id FROM images WHERE status = 'uploading'")
               if (deployment.data_dir / "staging" / i).is_file()]  # others: a sweep requeues
    with server.client() as client:
        for image_id in waiting:
            resp = client.post(f"/v2/images/{image_id}/import", json=GLANCE_DIRECT)
            assert resp.status_code == 202, resp.text
            workload._wait_import(client, image_id, workload.staged[image_id])
            assert image_id in workload.active, f"import of {image_id} failed"


@pytest.mark.parametrize("processes", [2, 4])
def test_separate_servers_started_and_killed_around_a_live_one(
        deployment: Deployment, processes: int) -> None:
    live = deployment.server("live")
    others = [deployment.server(f"other{i}") for i in range(processes - 1)]
    live.start()
    try:
        with Workload(live.url).running() as workload:
            for cycle in range(CYCLES):
                start_all([o for o in others if not o.alive()])
                _cycle(deployment, live, others, graceful=cycle % 2 == 1)
            wait_for(lambda: workload.rounds >= CYCLES, timeout=120, what="workload rounds")
        assert workload.failures == [] and workload.casualties == []
        check_settled(deployment, live, workload, 1 + sum(o.alive() for o in others))
        for server in [live, *others]:
            assert server.unexpected_errors() == [], server.name
    finally:
        for server in [live, *others]:
            server.kill()


def _cycle(deployment: Deployment, live: Server, others: list[Server], *,
           graceful: bool) -> None:
    """Hold an upload open on every process, then SIGKILL (or stop) the others: the live
    process's upload completes, the others' images are reclaimed to ``queued``."""
    with live.client() as client:
        held = SlowUpload(live.port, create_image(client), 4 * MiB)
    doomed = []
    for other in others:
        with other.client() as client:
            doomed.append(SlowUpload(other.port, create_image(client), 4 * MiB))
    ids = [held.image_id, *(u.image_id for u in doomed)]
    wait_for(lambda: set(ids) <= set(lease_pids(deployment.db_url)), what="uploads saving")
    for other in others:
        other.stop() if graceful else other.kill()
    answer = held.finish()
    assert answer.startswith(b"HTTP/1.1 204"), answer
    for upload in doomed:
        upload.finish()  # a killed server: no answer; a stopped one: its upload was undone
    with live.client() as client:
        record = client.get(f"/v2/images/{held.image_id}").json()
        assert (record["status"], record["checksum"]) == ("active", md5(held.data))
        wait_for(lambda: all(client.get(f"/v2/images/{u.image_id}").json()["status"] == "queued"
                             for u in doomed), what="the others' uploads reclaimed")
        for upload in doomed:  # and a retry through the live process works
            resp = client.put(f"/v2/images/{upload.image_id}/file", content=upload.data,
                              headers=OCTET)
            assert resp.status_code == 204, resp.text


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_killed_and_replaced_under_load(deployment: Deployment, workers: int) -> None:
    server = deployment.server("workers", "--workers", str(workers))
    server.start()
    assert server.proc is not None
    parent = server.proc.pid
    try:
        wait_for(lambda: len(children(parent)) == workers, what="workers started")
        with Workload(server.url, tolerant=True).running() as workload:
            for _ in range(CYCLES):
                _kill_all_workers_but_one(deployment, server, parent)
                wait_for(lambda: len(children(parent)) == workers, timeout=90,
                         what="workers replaced")
        assert workload.failures == []
        check_settled(deployment, server, workload, workers)
        assert server.unexpected_errors() == []
        # the parent SIGKILLed: its workers stop too, none serves on orphaned
        left = children(parent)
        server.kill()
        wait_for(lambda: not any(_running(pid) for pid in left), what=f"workers {left} live on")
    finally:
        left = children(parent)
        server.kill()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _kill_all_workers_but_one(deployment: Deployment, server: Server, parent: int) -> None:
    """Uploads held open on several workers; SIGKILL every worker but one that holds some:
    that one's uploads complete, the killed ones' are reclaimed to ``queued``."""
    with server.client() as client:
        ids = [create_image(client) for _ in range(6)]
    uploads = [SlowUpload(server.port, image_id, 2 * MiB) for image_id in ids]
    wait_for(lambda: set(ids) <= set(lease_pids(deployment.db_url)), what="uploads saving")
    holders = lease_pids(deployment.db_url)
    survivor = holders[ids[0]]
    for pid in children(parent):
        if pid != survivor:
            os.kill(pid, 9)
    for upload in uploads:
        answer = upload.finish()
        if holders[upload.image_id] == survivor:
            assert answer.startswith(b"HTTP/1.1 204"), answer
    with server.client() as client:
        for upload in uploads:
            expected = "active" if holders[upload.image_id] == survivor else "queued"
            wait_for(lambda u=upload, e=expected:  # type: ignore[misc]
                     client.get(f"/v2/images/{u.image_id}").json()["status"] == e,
                     what=f"{upload.image_id} {expected}")
        for upload in uploads:
            if holders[upload.image_id] == survivor:
                assert client.get(f"/v2/images/{upload.image_id}/file").content == upload.data
