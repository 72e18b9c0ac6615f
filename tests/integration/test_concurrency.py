"""The concurrency suite: ``cowshed serve --workers 4`` on PostgreSQL, the same operation on
the same image (or volume) sent at once on separate connections, spread by the kernel over
the four worker processes — exactly one wins, the others get Glance's (or Cinder's) answer for
a lost race, and what the winner wrote is intact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration._multi import (
    FAST,
    MiB,
    children,
    data_files,
    fresh_database,
    query,
    stuck_records,
    together,
    wait_for,
)
from tests.integration._server import Server, create_image, md5, random_raw, upload_ok

OCTET = {"Content-Type": "application/octet-stream"}
WORKERS = 4
#: requests released at once per race: more than the workers, so every worker gets some
RACERS = 8
ROUNDS = 3
VOLUMES = "/volume/v3/p1"


class Suite:
    def __init__(self, server: Server, db_url: str, stores: dict[str, Path]) -> None:
        self.server = server
        self.db_url = db_url
        self.stores = stores
        #: request ids of the racing requests, to tell which workers served them
        self.request_ids: list[str] = []

    def race(self, method: str, path: str, **kwargs: Any) -> list[int]:
        """``RACERS`` identical requests at once, each on its own connection: the statuses."""
        def one() -> int:
            with httpx.Client(base_url=self.server.url, timeout=120) as client:
                resp = client.request(method, path, **kwargs)
                self.request_ids.append(resp.headers.get("x-openstack-request-id", ""))
                return resp.status_code
        return together([one] * RACERS)

    def race_calls(self, calls: list[Any]) -> list[Any]:
        return together(calls)

    def client(self) -> httpx.Client:
        return self.server.client(timeout=120)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("concurrency")
    db_url = fresh_database(postgres_url)
    stores = {"a": root / "store-a", "b": root / "store-b"}
    config = root / "cowshed.toml"
    config.write_text(
        f'database_url = "{db_url}"\nlog_format = "json"\n{FAST}default_backend = "a"\n'
        f'[stores.a]\ntype = "file"\nfilesystem_store_datadir = "{stores["a"]}"\n'
        f'[stores.b]\ntype = "file"\nfilesystem_store_datadir = "{stores["b"]}"\n')
    server = Server(root / "data", config, name="workers", args=("--workers", str(WORKERS)))
    server.start()
    try:
        assert server.proc is not None
        wait_for(lambda: len(children(server.proc.pid)) == WORKERS,  # type: ignore[union-attr]
                 what="workers started")
        made = Suite(server, db_url, stores)
        yield made
        # nothing stuck, nothing partial, no 500 anywhere, and the races were spread
        wait_for(lambda: not stuck_records(db_url), what=f"stuck {stuck_records(db_url)}")
        for store in stores.values():
            assert not [n for n in data_files(store.parent, store.name) if "/" in n]
        assert server.unexpected_errors() == []
        assert len(_serving_pids(server, made.request_ids)) > 1, "one worker served all"
    finally:
        server.stop()


def _serving_pids(server: Server, request_ids: list[str]) -> set[int]:
    """The worker processes that answered the given requests (from the JSON access log)."""
    wanted = set(request_ids)
    pids = set()
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "cowshed.access" and entry.get("request_id") in wanted:
                pids.add(int(entry["process"]))
    return pids


def _one_winner(statuses: list[Any], win: int, lose: set[int]) -> None:
    assert statuses.count(win) == 1, statuses
    assert set(statuses) - {win} <= lose, statuses


def test_parallel_deletes(suite: Suite) -> None:
    with suite.client() as client:
        for _ in range(ROUNDS):
            image_id = create_image(client)
            upload_ok(client, image_id, random_raw(64 * 1024))
            # a loser gets what a later delete gets: the image is gone (404)
            _one_winner(suite.race("DELETE", f"/v2/images/{image_id}"), 204, {404})
            assert client.get(f"/v2/images/{image_id}").status_code == 404
    assert not query(suite.db_url, "SELECT 1 FROM images WHERE status = 'deleted'")


def test_parallel_uploads_to_one_image(suite: Suite) -> None:
    with suite.client() as client:
        for _ in range(ROUNDS):
            image_id = create_image(client)
            blobs = [random_raw(MiB + i) for i in range(RACERS)]

            def put(data: bytes, image_id: str = image_id) -> int:
                with httpx.Client(base_url=suite.server.url, timeout=120) as one:
                    resp = one.put(f"/v2/images/{image_id}/file", content=data, headers=OCTET)
                    suite.request_ids.append(resp.headers.get("x-openstack-request-id", ""))
                    return resp.status_code

            statuses = suite.race_calls([lambda d=d: put(d) for d in blobs])
            _one_winner(statuses, 204, {409})
            winner = blobs[statuses.index(204)]
            record = client.get(f"/v2/images/{image_id}").json()
            assert (record["status"], record["size"], record["checksum"]) == \
                ("active", len(winner), md5(winner))
            assert client.get(f"/v2/images/{image_id}/file").content == winner


def test_parallel_imports_of_one_image(suite: Suite) -> None:
    with suite.client() as client:
        for _ in range(ROUNDS):
            image_id = create_image(client)
            data = random_raw(MiB)
            resp = client.put(f"/v2/images/{image_id}/stage", content=data, headers=OCTET)
            assert resp.status_code == 204, resp.text
            body = {"method": {"name": "glance-direct"}}
            _one_winner(suite.race("POST", f"/v2/images/{image_id}/import", json=body),
                        202, {409})
            record = _wait_status(client, image_id, "active")
            assert record["checksum"] == md5(data)
            assert client.get(f"/v2/images/{image_id}/file").content == data
            tasks = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
            assert [t["status"] for t in tasks] == ["success"], tasks


def test_parallel_copies_of_one_image(suite: Suite) -> None:
    with suite.client() as client:
        for _ in range(ROUNDS):
            image_id = create_image(client)
            data = random_raw(MiB)
            upload_ok(client, image_id, data)
            body = {"method": {"name": "copy-image"}, "stores": ["b"]}
            # a loser finds the copy running (409) or done: the image is in b already (400)
            _one_winner(suite.race("POST", f"/v2/images/{image_id}/import", json=body),
                        202, {400, 409})
            deadline = time.monotonic() + 120
            while sorted((record := client.get(f"/v2/images/{image_id}").json())
                         ["stores"].split(",")) != ["a", "b"]:
                assert time.monotonic() < deadline, record
                time.sleep(0.05)
            assert record["status"] == "active" and record["checksum"] == md5(data)
            assert (suite.stores["b"] / image_id).read_bytes() == data
            tasks = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
            assert [t["status"] for t in tasks] == ["success"], tasks


def test_parallel_volume_deletes_and_clones(suite: Suite) -> None:
    with suite.client() as client:
        source = _volume(client, {"size": 1})
        # clones of one volume at once: all are made, each available, the source unchanged
        made = suite.race("POST", f"{VOLUMES}/volumes",
                          json={"volume": {"source_volid": source}})
        assert made == [202] * RACERS, made
        clones = [v["id"] for v in client.get(f"{VOLUMES}/volumes/detail").json()["volumes"]
                  if v["source_volid"] == source]
        assert len(clones) == RACERS
        for clone in clones:
            _wait_volume(client, clone, "available")
        assert _wait_volume(client, source, "available")["size"] == 1
        # deletes of one volume at once: one is accepted, the others refused
        for volume in [source, *clones[:ROUNDS]]:
            _one_winner(suite.race("DELETE", f"{VOLUMES}/volumes/{volume}"), 202, {400, 404})
        for volume in clones[ROUNDS:]:
            assert client.delete(f"{VOLUMES}/volumes/{volume}").status_code == 202
        for volume in [source, *clones]:
            _wait_volume(client, volume, None)
    wait_for(lambda: data_files(suite.server.data_dir, "volumes") == [],
             what=f"volumes left: {data_files(suite.server.data_dir, 'volumes')}")


def _volume(client: httpx.Client, spec: dict[str, Any]) -> str:
    resp = client.post(f"{VOLUMES}/volumes", json={"volume": spec})
    assert resp.status_code == 202, resp.text
    volume_id: str = resp.json()["volume"]["id"]
    _wait_volume(client, volume_id, "available")
    return volume_id


def _wait_volume(client: httpx.Client, volume_id: str, status: str | None) -> dict[str, Any]:
    """Wait for ``status`` (None: until the volume is gone)."""
    deadline = time.monotonic() + 120
    while True:
        resp = client.get(f"{VOLUMES}/volumes/{volume_id}")
        if status is None and resp.status_code == 404:
            return {}
        assert resp.status_code == 200, resp.text
        volume: dict[str, Any] = resp.json()["volume"]
        assert "error" not in volume["status"], volume
        if volume["status"] == status:
            return volume
        assert time.monotonic() < deadline, volume
        time.sleep(0.05)


def _wait_status(client: httpx.Client, image_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (record := client.get(f"/v2/images/{image_id}").json())["status"] != status:
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    found: dict[str, Any] = record
    return found
