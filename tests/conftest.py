"""Session fixtures shared by every test package."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cowshed.dev.postgres import DevPostgres

# The Keystone + Tempest harness fixtures, defined here once so that every package using them
# (tests/tempest, tests/identity) shares one Keystone per session rather than starting its own.
from tests._openstack.fixtures import (  # noqa: F401  (pytest finds fixtures by name)
    cowshed_cloud,
    image_mirror,
    keystone,
    openstack_venv,
    tempest_workspace,
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL for tests that need several processes on one database.

    ``$COWSHED_TEST_DATABASE_URL`` when set (``cowshed dev postgres run`` sets it), else a
    throwaway cluster started for the session (PostgreSQL is installed by ``./run test``; a
    missing one fails the tests, it never skips them). Tests make their own schema or database.
    """
    given = os.environ.get("COWSHED_TEST_DATABASE_URL")
    if given:
        yield given
        return
    # under /tmp, not pytest's 0700 tmp dir: as root the server runs as the postgres user
    with tempfile.TemporaryDirectory(prefix="cowshed-pg-") as tmp:
        cluster = DevPostgres(Path(tmp))
        try:
            cluster.up()
            yield cluster.url
        finally:
            cluster.down()
