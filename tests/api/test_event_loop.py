"""Nothing blocks the event loop: every database and store call of the Image API runs in one
of the services' own pools, never on the loop's thread (nor in a pool nobody owns).

The check wraps each method of the running app's repository and stores, records the calling
thread and whether an event loop runs in it, then drives the API through the operations that
touch both: create, upload, download (whole and ranged), stage, import, list, PATCH, tags,
delete.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cowshed.config import Settings
from tests.api._import_fixtures import Api, running_api

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


class Calls:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.on_loop: list[str] = []
        self.threads: set[str] = set()
        self.count = 0

    def wrap(self, owner: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            with self.lock:
                self.count += 1
                self.threads.add(threading.current_thread().name)
                if on_loop:
                    self.on_loop.append(f"{owner}.{fn.__name__}")
            return fn(*args, **kwargs)

        return wrapped

    def instrument(self, obj: object, owner: str) -> None:
        for name in dir(obj):
            if name.startswith("_"):
                continue
            value = getattr(obj, name)
            if callable(value) and not isinstance(value, type):
                setattr(obj, name, self.wrap(owner, value))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(Settings(data_dir=tmp_path / "data")) as running:
        yield running


def _wait_active(api: Api, image_id: str) -> None:
    deadline = time.monotonic() + 30
    while api.show(image_id)["status"] != "active":
        assert time.monotonic() < deadline, api.show(image_id)
        time.sleep(0.02)


def test_database_and_store_calls_never_run_on_the_event_loop(api: Api) -> None:
    calls = Calls()
    deps = api.svc.deps
    calls.instrument(deps.repo, "repo")
    for backend in [*deps.stores, deps.staging]:
        calls.instrument(backend, f"store {backend.name}")
    client = api.client
    data = bytes(range(256)) * 8192  # 2 MiB

    image_id = api.create(name="loop", disk_format="raw", container_format="bare")["id"]
    assert api.upload(image_id, data).status_code == 204
    assert client.get(f"/v2/images/{image_id}/file").content == data
    ranged = client.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=10-19"})
    assert ranged.content == data[10:20]
    assert client.get("/v2/images?limit=5&sort=name:asc").status_code == 200
    patched = client.patch(f"/v2/images/{image_id}", headers=PATCH,
                           json=[{"op": "add", "path": "/color", "value": "blue"}])
    assert patched.status_code == 200, patched.text
    assert client.put(f"/v2/images/{image_id}/tags/t1").status_code == 204

    staged_id = api.create(name="staged", disk_format="raw", container_format="bare")["id"]
    assert api.stage(staged_id, data).status_code == 204
    assert api.import_(staged_id, {"method": {"name": "glance-direct"}}).status_code == 202
    _wait_active(api, staged_id)
    for gone in (image_id, staged_id):
        assert client.delete(f"/v2/images/{gone}").status_code == 204

    assert calls.count > 20, "the instrumented methods were not called"
    assert calls.on_loop == [], calls.on_loop
    foreign = sorted(t for t in calls.threads if not t.startswith("cowshed-"))
    assert foreign == [], f"calls from threads no service owns: {foreign}"
