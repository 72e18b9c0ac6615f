"""Owned work: several server processes on one database and one data dir never harm each
other's work in progress, and what a killed one left is reclaimed by the others' sweeps.

Real processes (``cowshed serve``), a real PostgreSQL (one fresh database per test), the file
store shared through the data dir; the owner lease and sweep interval are short so a dead
owner's work is reclaimed within seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._multi import FAST, MiB, SlowUpload, children, fresh_database, wait_for
from tests.integration._server import Server, create_image, upload_ok


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Path, Path]]:
    """A data dir and a config pointing at a fresh PostgreSQL database, shareable by servers."""
    config = tmp_path / "cowshed.toml"
    config.write_text(f'database_url = "{fresh_database(postgres_url)}"\n'
                      f"data_dir_lock = false\n{FAST}")
    yield tmp_path / "data", config


def start(data_dir: Path, config: Path, name: str, *args: str) -> Server:
    server = Server(data_dir, config, name=name, args=args)
    server.start()
    return server


def status(server: Server, image_id: str) -> str:
    with server.client() as client:
        return str(client.get(f"/v2/images/{image_id}").json()["status"])


def test_a_second_server_never_breaks_the_first_ones_upload(shared: tuple[Path, Path]) -> None:
    data_dir, config = shared
    a = start(data_dir, config, "a")
    b: Server | None = None
    try:
        with a.client() as client:
            image_id = create_image(client)
        upload = SlowUpload(a.port, image_id, 24 * MiB)
        wait_for(lambda: status(a, image_id) == "saving")
        assert len(a.part_files()) == 1
        # B starts (start-up recovery), restarts, and sweeps every second meanwhile
        b = start(data_dir, config, "b")
        b.restart()
        time.sleep(3)
        assert status(b, image_id) == "saving"
        assert len(a.part_files()) == 1, "B removed A's partial write"
        answer = upload.finish()
        assert answer.startswith(b"HTTP/1.1 204"), answer
        assert status(b, image_id) == "active"
        with b.client() as client:
            assert client.get(f"/v2/images/{image_id}/file").content == upload.data
        assert a.unexpected_errors() == [] and b.unexpected_errors() == []
    finally:
        a.kill()
        if b is not None:
            b.kill()


def test_what_a_killed_server_left_is_reclaimed_by_the_other(shared: tuple[Path, Path]) -> None:
    data_dir, config = shared
    a = start(data_dir, config, "a")
    b = start(data_dir, config, "b")
    try:
        with a.client() as client:
            stuck, fine = create_image(client), create_image(client)
        upload = SlowUpload(a.port, stuck, 24 * MiB)  # held: a closed socket would abort it
        wait_for(lambda: status(a, stuck) == "saving")
        a.kill()  # SIGKILL: no undo runs
        assert status(b, stuck) == "saving"
        # B's sweep sees A's pid gone: the image goes back to queued, the part file goes
        wait_for(lambda: status(b, stuck) == "queued" and not b.part_files())
        assert upload.finish() == b""
        with b.client() as client:
            upload_ok(client, stuck, b"retried" * 1000)
            upload_ok(client, fine, b"fine" * 1000)
        assert b.unexpected_errors() == []
    finally:
        a.kill()
        b.kill()


def test_workers_on_sqlite_survive_a_killed_worker(tmp_path: Path) -> None:
    config = tmp_path / "cowshed.toml"
    config.write_text(FAST)
    server = start(tmp_path / "data", config, "w", "--workers", "2")
    try:
        assert server.proc is not None
        workers = children(server.proc.pid)
        assert len(workers) == 2, workers
        with server.client() as client:
            ids = [create_image(client) for _ in range(6)]
        uploads = [SlowUpload(server.port, image_id, 8 * MiB) for image_id in ids]
        wait_for(lambda: all(server.db_status(i) == "saving" for i in ids))
        os.kill(workers[0], 9)
        answers = [u.finish() for u in uploads]
        served = [i for i, a in zip(ids, answers, strict=True) if a.startswith(b"HTTP/1.1 204")]
        broken = [i for i in ids if i not in served]
        assert served, answers  # the surviving worker's uploads completed
        # the killed worker's uploads are reclaimed by the survivor's sweep
        wait_for(lambda: all(server.db_status(i) == "queued" for i in broken))
        wait_for(lambda: server.part_files() == [])
        wait_for(lambda: len(children(server.proc.pid)) == 2)  # replaced
        with server.client() as client:
            for image_id in broken:
                upload_ok(client, image_id, b"again" * 1000)
        assert all(server.db_status(i) == "active" for i in ids)
    finally:
        server.stop()
