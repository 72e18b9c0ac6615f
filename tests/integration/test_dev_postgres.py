"""The throwaway PostgreSQL cluster the suite and the benches start themselves."""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa

from cowshed.dev.postgres import DevPostgres


def test_up_serves_sql_and_down_removes_the_data() -> None:
    with tempfile.TemporaryDirectory(prefix="cowshed-pg-") as tmp:
        cluster = DevPostgres(Path(tmp))
        cluster.up()
        try:
            engine = sa.create_engine(cluster.url, poolclass=sa.pool.NullPool)
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT 40 + 2")).scalar() == 42
                assert conn.execute(sa.text("SHOW fsync")).scalar() == "off"
            engine.dispose()
        finally:
            cluster.down()
        assert not (Path(tmp) / "data").exists()


def test_cli_run_passes_the_url_and_the_exit_status() -> None:
    from click.testing import CliRunner

    from cowshed.cli.main import main

    result = CliRunner().invoke(main, ["dev", "postgres", "run", "--", "sh", "-c",
                                       'case "$COWSHED_TEST_DATABASE_URL" in '
                                       'postgresql+psycopg://*) exit 7;; esac; exit 1'])
    assert result.exit_code == 7, result.output
