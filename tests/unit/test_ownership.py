"""Owners and leases: who counts as alive, and partial files fenced by their writer's flock."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cowshed.backends.file import FileBackend, FileConfig
from cowshed.config import load_settings
from cowshed.db.engine import create_engine
from cowshed.db.repository import Repository
from cowshed.domain.clock import utcnow
from cowshed.domain.owners import Owner, owner_alive
from cowshed.services.ownership import Ownership, proc_start

LEASE = timedelta(seconds=30)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    settings = load_settings(data_dir=tmp_path, environ={})
    return Repository(create_engine(settings.database))


def _owner(host: str, pid: int, start: int, age: timedelta) -> Owner:
    now = utcnow()
    return Owner(id=f"{host}:{pid}:t", host=host, pid=pid, proc_start=start,
                 started_at=now - age, heartbeat_at=now - age)


def test_the_liveness_rule() -> None:
    me, now = os.getpid(), utcnow()
    start = proc_start(me)
    assert start is not None
    assert owner_alive(_owner("here", me, start, timedelta()), now, LEASE, "here", proc_start)
    # the same pid with another start time is a reused pid, not the owner
    assert not owner_alive(_owner("here", me, start + 1, timedelta()), now, LEASE, "here",
                           proc_start)
    # a heartbeat older than the lease: dead, here or elsewhere
    assert not owner_alive(_owner("here", me, start, LEASE * 2), now, LEASE, "here", proc_start)
    assert not owner_alive(_owner("far", 1, 1, LEASE * 2), now, LEASE, "here", proc_start)
    # elsewhere with a fresh heartbeat: alive (its pid means nothing here)
    assert owner_alive(_owner("far", 999999, 1, timedelta()), now, LEASE, "here", proc_start)
    assert not owner_alive(None, now, LEASE, "here", proc_start)


def test_a_killed_process_is_dead_at_once_and_its_leases_stop_counting(
        repo: Repository, tmp_path: Path) -> None:
    mine = Ownership(repo, LEASE)
    mine.start()
    script = ("import sys, time\nfrom datetime import timedelta\n"
              "from cowshed.db.engine import create_engine\n"
              "from cowshed.db.repository import Repository\n"
              "from cowshed.services.ownership import Ownership\n"
              f"o = Ownership(Repository(create_engine({repo.engine.url.render_as_string()!r})),"
              " timedelta(seconds=30))\n"
              "o.start(); o.lease('image:x'); print(o.id, flush=True); time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        other = child.stdout.readline().strip()
        mine.lease("image:y")
        assert mine.live([other, mine.id]) == {other, mine.id}
        assert mine.held(["image:x", "image:y", "image:z"]) == {"image:x", "image:y"}
        child.kill()
        child.wait()
        # its heartbeat is fresh, but its pid is gone: dead without waiting for the lease
        assert mine.live([other]) == set()
        assert mine.held(["image:x", "image:y"]) == {"image:y"}
        assert mine.dead_owners() == [other]
    finally:
        child.kill()
        mine.stop()
    assert repo.owners_by_id([mine.id]) == {}  # a clean stop removes our row


def test_a_live_writers_part_file_survives_a_sweep_a_dead_ones_does_not(tmp_path: Path) -> None:
    config = FileConfig(filesystem_store_datadir=str(tmp_path / "store"))
    writer_side, sweeper_side = FileBackend("file", config), FileBackend("file", config)
    live = writer_side.open_writer("key-live", None)
    live.write(b"data")
    dead = writer_side.open_writer("key-dead", None)
    dead.write(b"data")
    os.close(dead._fd)  # type: ignore[attr-defined,arg-type]  # its process died: no flock
    dead._fd = None  # type: ignore[attr-defined]
    assert sweeper_side.cleanup_incomplete() == 1
    parts = list((tmp_path / "store" / ".incoming").iterdir())
    assert [p.name.split(".")[0] for p in parts] == ["key-live"]
    live.commit()
    assert writer_side.exists("key-live")
