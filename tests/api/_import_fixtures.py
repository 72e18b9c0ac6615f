"""Helpers for the import and hostile-image API tests (plain functions and classes, no fixtures,
so they cannot clash with ``tests/api/conftest.py``).

* :class:`QemuAudit` wraps a real QemuImg whose audit callback records every qemu-img argv, so a
  test can prove qemu-img was (or was never) run.
* :func:`running_api` starts the app in-process (starlette TestClient, lifespan included) over
  services built with that audited QemuImg, and :class:`Api` drives it.
* :class:`SourceServer` is a local ``http.server`` thread that web-download fetches from, with a
  few extra routes: ``/redirect?to=URL``, ``/nolength/NAME`` (no Content-Length) and
  ``/gate/NAME`` (waits until the test opens the gate).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.server
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.testclient import TestClient

from cowshed.api.app import create_app
from cowshed.config import Settings
from cowshed.formats.qemu_img import QemuImg, QemuImgCall
from cowshed.services.app import Services, open_services
from tests.api.helpers import authenticate, fresh_database_url, with_test_auth

TERMINAL = ("success", "failure")
JSON = {"Accept": "application/json"}
OCTET = {"Content-Type": "application/octet-stream"}


@dataclass
class QemuAudit:
    """A real QemuImg plus every call it made. ``hook`` runs before each call (may block)."""

    calls: list[QemuImgCall] = field(default_factory=list)
    hook: Callable[[QemuImgCall], None] | None = None

    def __post_init__(self) -> None:
        self.qemu = QemuImg(audit=self._record)

    def _record(self, call: QemuImgCall) -> None:
        self.calls.append(call)
        if self.hook is not None:
            self.hook(call)

    def operations(self) -> list[str]:
        return [c.operation for c in self.calls]


@dataclass
class Api:
    """An in-process cowshed API with its services, settings and qemu-img audit."""

    client: TestClient
    svc: Services
    audit: QemuAudit

    @property
    def settings(self) -> Settings:
        return self.svc.settings

    def create(self, **body: Any) -> dict[str, Any]:
        r = self.client.post("/v2/images", json=body)
        assert r.status_code == 201, r.text
        image: dict[str, Any] = r.json()
        return image

    def show(self, image_id: str) -> dict[str, Any]:
        r = self.client.get(f"/v2/images/{image_id}")
        assert r.status_code == 200, r.text
        image: dict[str, Any] = r.json()
        return image

    def upload(self, image_id: str, data: bytes, **headers: str) -> httpx.Response:
        return self.client.put(f"/v2/images/{image_id}/file", content=data,
                               headers={**OCTET, **headers})

    def stage(self, image_id: str, data: bytes) -> httpx.Response:
        return self.client.put(f"/v2/images/{image_id}/stage", content=data, headers=OCTET)

    def import_(self, image_id: str, body: Any) -> httpx.Response:
        return self.client.post(f"/v2/images/{image_id}/import", json=body)

    def tasks(self, image_id: str) -> list[dict[str, Any]]:
        r = self.client.get(f"/v2/images/{image_id}/tasks")
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["tasks"]
        return found

    def task(self, task_id: str) -> dict[str, Any]:
        r = self.client.get(f"/v2/tasks/{task_id}")
        assert r.status_code == 200, r.text
        task: dict[str, Any] = r.json()
        return task

    def wait_task(self, image_id: str, known: set[str] | None = None,
                  timeout: float = 30.0) -> dict[str, Any]:
        """The image's newest task not in ``known``, once it has finished."""
        deadline = time.monotonic() + timeout
        while True:
            tasks = [t for t in self.tasks(image_id) if t["id"] not in (known or set())]
            if tasks and tasks[-1]["status"] in TERMINAL:
                return self.task(tasks[-1]["id"])
            if time.monotonic() > deadline:
                raise AssertionError(f"import of {image_id} did not finish: {tasks}")
            time.sleep(0.01)

    def import_and_wait(self, image_id: str, body: Any) -> dict[str, Any]:
        known = {t["id"] for t in self.tasks(image_id)}
        r = self.import_(image_id, body)
        assert r.status_code == 202, r.text
        return self.wait_task(image_id, known)

    def store_dir(self, store: str | None = None) -> Path:
        root: Path = getattr(self.svc.deps.stores.get(store), "root")  # noqa: B009 - file stores
        return root

    def leftovers(self, image_id: str) -> list[Path]:
        """Every file an import or upload of ``image_id`` may have left in a store or staging."""
        roots = [self.settings.staging_dir]
        roots += [Path(b.root) for b in self.svc.deps.stores if hasattr(b, "root")]
        found = []
        for root in roots:
            found += [p for p in root.rglob("*") if p.is_file() and image_id in p.name]
            found += [p for p in (root / ".incoming").glob("*") if p.is_file()]
        return found


@contextlib.contextmanager
def running_api(settings: Settings, audit: QemuAudit | None = None) -> Iterator[Api]:
    """The app in-process over services whose imports use ``audit``'s QemuImg."""
    audit = audit or QemuAudit()
    settings = with_test_auth(settings)
    url = "" if settings.database_url else fresh_database_url()
    if url:  # $COWSHED_TEST_DATABASE_URL set: a fresh PostgreSQL schema
        settings = dataclasses.replace(settings, database_url=url)
    svc = open_services(settings, qemu=audit.qemu)
    assert svc.imports.qemu is audit.qemu, "the import service must use the audited qemu-img"
    try:
        with TestClient(create_app(settings, services=svc), headers=JSON) as client:
            yield Api(authenticate(client), svc, audit)
    finally:
        svc.close()


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()


def file_digests(path: Path) -> tuple[str, str]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    with path.open("rb") as fh:
        while block := fh.read(8 << 20):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.requests.append(parts.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query).get("to", [self.path])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path.startswith("/gate/"):
            self.server.gate.wait(30)
            self.path = parts.path[len("/gate"):]
        if parts.path.startswith("/nolength/"):
            self._send_without_length(parts.path[len("/nolength/"):])
            return
        super().do_GET()

    def _send_without_length(self, name: str) -> None:
        path = Path(self.directory) / name
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()  # HTTP/1.0 without Content-Length: the body ends when we close
        with path.open("rb") as fh:
            shutil.copyfileobj(fh, self.wfile)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]
    gate: threading.Event


class SourceServer:
    """Serves ``directory`` on 127.0.0.1 (an ephemeral port) in a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=os.fspath(directory))

        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.requests = []
        self._server.gate = threading.Event()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def gate(self) -> threading.Event:
        return self._server.gate

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name.lstrip('/')}"

    def __enter__(self) -> SourceServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
