"""Crashes at exact points of upload and delete, then the start-up recovery.

A random SIGKILL rarely lands between two steps that are microseconds apart, so each step
boundary is hit on purpose: a child process runs the library operation with one method
patched to ``os._exit`` right before or after it (no ``finally``, no ``except`` runs, like a
power cut), then the parent starts the API on the same data dir and checks what clients see.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowshed.api.app import create_app
from cowshed.config import load_settings
from tests.api.helpers import OCTET, TestClient

CRASH_EXIT = 77
DATA = os.urandom(20 << 20)  # several 8 MiB ingest blocks

CHILD = textwrap.dedent('''
    import asyncio, os, sys
    from cowshed.backends.file import FileBackend, _FileWriter
    from cowshed.config import load_settings
    from cowshed.db.repository import Repository
    from cowshed.domain.images import ImageStatus
    from cowshed.services.app import open_services

    data_dir, point, image_id, payload = sys.argv[1:5]

    def crash_after(cls, name, when=lambda *a, **k: True, skip=0):
        original = getattr(cls, name)
        calls = [0]
        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            if when(*args, **kwargs):
                calls[0] += 1
                if calls[0] > skip:
                    os._exit(77)
            return result
        setattr(cls, name, wrapper)

    def to(status):
        return lambda self, image_id, expect, new, **kw: new == status

    points = {
        "upload:mid-write": lambda: crash_after(_FileWriter, "write", skip=1),
        "upload:after-commit": lambda: crash_after(_FileWriter, "commit"),
        "upload:after-add-location": lambda: crash_after(Repository, "add_location"),
        "delete:after-mark": lambda: crash_after(Repository, "set_status",
                                                 when=to(ImageStatus.DELETED)),
        "delete:after-data": lambda: crash_after(FileBackend, "delete"),
        "delete:after-location": lambda: crash_after(Repository, "remove_location"),
    }
    svc = open_services(load_settings(data_dir=data_dir, environ={}))
    points[point]()
    if point.startswith("upload"):
        data = open(payload, "rb").read()
        async def chunks():
            for i in range(0, len(data), 1 << 20):
                yield data[i:i + (1 << 20)]
        asyncio.run(svc.data.upload(svc.admin_context(), image_id, chunks(), len(data), None))
    else:
        svc.images.delete(svc.admin_context(), image_id)
    sys.exit(0)  # the crash point was never reached
''')


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@contextlib.contextmanager
def api(data_dir: Path) -> Iterator[TestClient]:
    """The API on ``data_dir``; entering runs the start-up recovery, as a restart would."""
    with TestClient(create_app(load_settings(data_dir=data_dir, environ={})),
                    raise_server_exceptions=False) as client:
        yield client


def crash(data_dir: Path, point: str, image_id: str, payload: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data_dir), point, image_id,
                           str(payload)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == CRASH_EXIT, f"crash point not reached:\n{proc.stderr}"


def files(data_dir: Path) -> list[str]:
    root = data_dir / "images"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload(client: TestClient, image_id: str, data: bytes) -> None:
    resp = client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTET)
    assert resp.status_code == 204, resp.text
    record = client.get(f"/v2/images/{image_id}").json()
    assert record["status"] == "active"
    assert record["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert client.get(f"/v2/images/{image_id}/file").content == data


def new_image(client: TestClient) -> str:
    resp = client.post("/v2/images", json={"id": str(uuid.uuid4()), "disk_format": "raw",
                                           "container_format": "bare"})
    assert resp.status_code == 201
    image_id: str = resp.json()["id"]
    return image_id


@pytest.mark.parametrize("point", ["upload:mid-write", "upload:after-commit",
                                   "upload:after-add-location"])
def test_crash_during_upload(data_dir: Path, tmp_path: Path, point: str) -> None:
    payload = tmp_path / "payload"
    payload.write_bytes(DATA)
    with api(data_dir) as client:
        image_id = new_image(client)
    crash(data_dir, point, image_id, payload)
    assert files(data_dir), "the crash left nothing behind: the test proves nothing"
    with api(data_dir) as client:
        record: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
        assert record["status"] == "queued"
        assert (record["size"], record["checksum"]) == (None, None)
        assert client.get(f"/v2/images/{image_id}/file").status_code == 204
        assert files(data_dir) == []
        upload(client, image_id, DATA[:3000])
        assert files(data_dir) == [image_id]


@pytest.mark.parametrize("point", ["delete:after-mark", "delete:after-data",
                                   "delete:after-location"])
def test_crash_during_delete(data_dir: Path, tmp_path: Path, point: str) -> None:
    with api(data_dir) as client:
        image_id = new_image(client)
        upload(client, image_id, DATA[:5000])
    crash(data_dir, point, image_id, tmp_path / "unused")
    with api(data_dir) as client:
        # the client asked for a delete: after the restart it is complete, data and all
        assert client.get(f"/v2/images/{image_id}").status_code == 404
        assert client.get("/v2/images").json()["images"] == []
        assert files(data_dir) == []
        # and the id is free again
        resp = client.post("/v2/images", json={"id": image_id, "disk_format": "raw",
                                               "container_format": "bare"})
        assert resp.status_code == 201
        upload(client, image_id, DATA[:100])
