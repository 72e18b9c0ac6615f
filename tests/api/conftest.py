"""Fixtures for the in-process Image API tests: one fresh app and data dir per test.

The app runs through starlette's TestClient used as a context manager, so the lifespan (open
services, crash recovery, close) runs exactly as under uvicorn. Helpers are fixtures returning
callables, so test modules never import from this file.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowshed.api.app import create_app
from cowshed.config import Settings, load_settings
from cowshed.services.app import open_services
from tests.api.helpers import (
    OCTET,
    TEST_AUTH,
    TEST_DATABASE_URL,
    TestClient,
    admin_token,
    authenticate,
    drop_test_schemas,
    fresh_database_url,
    with_test_auth,
)

CreateImage = Callable[..., dict[str, Any]]
Upload = Callable[..., httpx.Response]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session", autouse=True)
def _test_schemas() -> Iterator[None]:
    """On PostgreSQL, drop the per-app schemas before and after the session."""
    if not TEST_DATABASE_URL:
        yield
        return
    drop_test_schemas()
    yield
    drop_test_schemas()


@pytest.fixture(scope="session", autouse=True)
def _admin_token_on_every_client() -> Iterator[None]:
    """Under COWSHED_TEST_AUTH=standalone, every in-process client of an app — the fixtures'
    and those a test builds itself (TestClient, httpx's ASGITransport) — sends a real admin
    token of that app unless the request names one itself; the app's middleware validates it
    like any other. Nothing changes under noauth."""
    if TEST_AUTH != "standalone":
        yield
        return
    patch = pytest.MonkeyPatch()
    enter = TestClient.__enter__

    def entered(self: TestClient) -> TestClient:
        client = enter(self)
        if "x-auth-token" not in client.headers:
            authenticate(client)
        return client

    handle = httpx.ASGITransport.handle_async_request

    async def handled(self: httpx.ASGITransport, request: httpx.Request) -> httpx.Response:
        services = getattr(getattr(self.app, "state", None), "services", None)
        if "x-auth-token" not in request.headers and services is not None:
            token = admin_token(services)
            if token is not None:
                request.headers["X-Auth-Token"] = token
        return await handle(self, request)

    patch.setattr(TestClient, "__enter__", entered)
    patch.setattr(httpx.ASGITransport, "handle_async_request", handled)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A database at the newest migration, made once: copying it saves each test the
    Alembic run (start-up still checks the revision). None on PostgreSQL, where each test
    migrates a fresh schema instead (a few tens of milliseconds)."""
    if TEST_DATABASE_URL:
        return None
    template = tmp_path_factory.mktemp("template")
    services = open_services(with_test_auth(load_settings(data_dir=template, environ={})))
    # under COWSHED_TEST_AUTH=standalone the template holds the admin already: each test's
    # start then finds it instead of hashing its password again
    services.bootstrap_identity("http://testserver/identity")
    services.close()
    return template / "cowshed.db"


@pytest.fixture
def settings(data_dir: Path, migrated_db: Path | None) -> Settings:
    data_dir.mkdir(parents=True)
    if migrated_db is None:
        environ = {"COWSHED_DATABASE_URL": fresh_database_url()}
    else:
        shutil.copyfile(migrated_db, data_dir / "cowshed.db")
        environ = {}
    # environ={} keeps a developer's COWSHED_* variables out of the tests.
    return with_test_auth(load_settings(data_dir=data_dir, environ=environ))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a bug must show up as the 500 a real client would see.
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield authenticate(test_client)


@pytest.fixture
def create_image(client: TestClient) -> CreateImage:
    """``create_image(**body)``: POST /v2/images, assert 201, return the record."""

    def create(**body: Any) -> dict[str, Any]:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        resp = client.post("/v2/images", json=body)
        assert resp.status_code == 201, resp.text
        record: dict[str, Any] = resp.json()
        return record

    return create


@pytest.fixture
def upload(client: TestClient) -> Upload:
    """``upload(image_id, data, **headers)``: PUT the file with octet-stream, return the response."""

    def put(image_id: str, data: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return client.put(f"/v2/images/{image_id}/file", content=data,
                          headers={**OCTET, **(headers or {})})

    return put


@pytest.fixture
def active_image(create_image: CreateImage, upload: Upload, client: TestClient
                 ) -> Callable[..., dict[str, Any]]:
    """``active_image(data=b"...", **body)``: create + upload (asserting 204), return the record."""

    def make(data: bytes = b"0123456789" * 10, **body: Any) -> dict[str, Any]:
        image = create_image(**body)
        resp = upload(image["id"], data)
        assert resp.status_code == 204, resp.text
        record: dict[str, Any] = client.get(f"/v2/images/{image['id']}").json()
        assert record["status"] == "active"
        return record

    return make
