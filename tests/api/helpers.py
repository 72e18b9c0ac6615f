"""Constants and small assertion helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import os
import re
import warnings
from datetime import timedelta

import httpx
import sqlalchemy as sa

from cowshed.config import Settings
from cowshed.domain.clock import utcnow
from cowshed.domain.identity import DEFAULT_DOMAIN_ID
from cowshed.services.app import Services

with warnings.catch_warnings():
    # starlette warns at import time that it prefers httpx2; httpx is what the project pins.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]

#: Set to a ``postgresql+psycopg://…`` URL to run the API tests on that database instead of
#: SQLite. Each app gets a fresh schema in it (see fresh_database_url); the database is scratch.
TEST_DATABASE_URL = os.environ.get("COWSHED_TEST_DATABASE_URL", "")
TEST_SCHEMA_PREFIX = "cowshed_test_"
_schema_ids = itertools.count()

#: ``standalone`` runs the API tests with the standalone identity and an admin token on every
#: client (CI runs the suite both ways); anything else: noauth.
TEST_AUTH = os.environ.get("COWSHED_TEST_AUTH", "noauth")
ADMIN_PASSWORD = "test-admin-password"

OCTET = {"Content-Type": "application/octet-stream"}
PATCH21 = "application/openstack-images-v2.1-json-patch"
PATCH20 = "application/openstack-images-v2.0-json-patch"
ISOTIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def json_error(resp: httpx.Response, status: int) -> str:
    """Assert an error response of ``status``; return its message (either body form)."""
    assert resp.status_code == status, f"{resp.status_code} {resp.text[:500]}"
    if resp.headers.get("content-type", "").startswith("application/json"):
        body = resp.json()
        assert set(body) == {"message", "code", "title"}, body
        assert body["code"].startswith(str(status))
        message: str = body["message"]
        return message
    assert resp.text.startswith(f"{status} "), resp.text
    return resp.text


def raw_request(client: TestClient, method: str, url: str,
                headers: list[tuple[bytes, bytes]], content: bytes = b"") -> httpx.Response:
    """Send header bytes exactly as given (TestClient re-encodes non-ASCII values as UTF-8).

    Runs the already started app of ``client`` through httpx's ASGI transport.
    """

    token = client.headers.get("x-auth-token")
    if token is not None:
        headers = [*headers, (b"x-auth-token", token.encode())]

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, url, content=content, headers=headers)

    return asyncio.run(send())


def fresh_database_url() -> str:
    """"" for SQLite; else a URL of a new empty schema in $COWSHED_TEST_DATABASE_URL.

    The schema is selected through the connection's search_path, so Alembic and every query of
    the app land in it unchanged. conftest drops the schemas at the start and end of a session.
    """
    if not TEST_DATABASE_URL:
        return ""
    schema = f"{TEST_SCHEMA_PREFIX}{os.getpid()}_{next(_schema_ids)}"
    engine = sa.create_engine(TEST_DATABASE_URL, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    url = sa.make_url(TEST_DATABASE_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def drop_test_schemas() -> None:
    """Drop every schema fresh_database_url made (also those left by an interrupted run)."""
    engine = sa.create_engine(TEST_DATABASE_URL, poolclass=sa.pool.NullPool)
    try:
        # One transaction per schema: dropping hundreds at once runs out of lock slots.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            names = conn.execute(sa.text(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"),
                {"prefix": TEST_SCHEMA_PREFIX}).scalars().all()
            for name in names:
                conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        engine.dispose()


def with_test_auth(settings: Settings) -> Settings:
    """``settings`` under the strategy the suite runs with (COWSHED_TEST_AUTH)."""
    if TEST_AUTH != "standalone":
        return settings
    return dataclasses.replace(settings, auth_strategy="standalone",
                               admin_password=ADMIN_PASSWORD)


def admin_token(services: Services) -> str | None:
    """A real admin token of the running app's standalone identity (None under noauth).

    Sealed directly by the token codec rather than by a password login, which would cost a KDF
    run per test; it is validated by the middleware like any other token.
    """
    if services.tokens is None:
        return None
    settings = services.settings
    repo = services.identity.repo
    admin = repo.user_by_name(settings.admin_user, DEFAULT_DOMAIN_ID)
    project = repo.project_by_name(settings.admin_project, DEFAULT_DOMAIN_ID)
    now = utcnow()
    token, _ = services.tokens.codec.issue(admin.id, project.id, None, ("password",), now,
                                           now + timedelta(hours=4))
    return token


def authenticate(client: TestClient) -> TestClient:
    """Give ``client`` (whose app has started) the admin token, if the app needs one."""
    token = admin_token(client.app.state.services)  # type: ignore[attr-defined]
    if token is not None:
        client.headers["X-Auth-Token"] = token
    return client
