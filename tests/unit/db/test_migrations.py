"""Opening a database: migrated by Alembic when behind, recognised without Alembic at head."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from cowshed.db import engine as engine_mod
from cowshed.db.engine import create_engine, head_revision
from cowshed.errors import ConfigError


def _alembic_head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine_mod.__file__).parent / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_the_files_head_is_alembics_head() -> None:
    assert head_revision() is not None
    assert head_revision() == _alembic_head()


def _version(url: str) -> list[str]:
    with sa.create_engine(url).connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def test_a_database_behind_is_migrated_and_one_at_head_skips_alembic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    create_engine(url).dispose()  # new database: Alembic creates every table
    assert _version(url) == [head_revision()]
    with sa.create_engine(url).begin() as conn:  # pretend the newest migration is missing
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    calls: list[str] = []
    import alembic.command

    real = alembic.command.upgrade
    monkeypatch.setattr(alembic.command, "upgrade",
                        lambda cfg, rev: (calls.append(rev), real(cfg, rev))[1])
    with pytest.raises(ConfigError, match="already exists"):  # 0002 ran again: Alembic did
        create_engine(url)
    assert calls == ["head"]
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"),
                     {"v": head_revision()})
    create_engine(url).dispose()  # at head: no Alembic
    assert calls == ["head"]


def test_a_merge_or_unreadable_migration_leaves_the_decision_to_alembic(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision = "b"\ndown_revision = ("a", "c")\n')
    monkeypatch.setattr(engine_mod, "_MIGRATIONS", tmp_path)
    assert head_revision() is None
    (versions / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    assert head_revision() == "b"
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # two heads
    assert head_revision() is None
