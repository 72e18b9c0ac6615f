"""Every start-up failure is one ``Error:`` line that says what to do — never a traceback.

Each case runs the real ``cowshed`` command in a subprocess, as a user would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration._server import COWSHED, free_port


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COWSHED_")}
    return subprocess.run([str(COWSHED), *args], capture_output=True, text=True, timeout=300,
                          env={**base, **(env or {})}, cwd=cwd, check=False)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def serve(tmp_path: Path, *extra: str, env: dict[str, str] | None = None,
          data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run("serve", "--data-dir", str(data_dir or tmp_path / "data"), "--port",
               str(free_port()), *extra, env=env)


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    line = one_error_line(serve(tmp_path, data_dir=blocker / "data"))
    assert f"cannot use data dir {blocker / 'data'}" in line
    assert "choose a writable directory with --data-dir or COWSHED_DATA_DIR" in line


def test_unreachable_postgresql_names_the_url_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://cowshed:s3cret@127.0.0.1:{free_port()}/cowshed"
    line = one_error_line(serve(tmp_path, env={"COWSHED_DATABASE_URL": url}))
    assert "cannot reach the database postgresql+psycopg://cowshed:***@127.0.0.1:" in line
    assert "check database_url and that PostgreSQL runs" in line
    assert "s3cret" not in line


def test_rbd_store_with_a_missing_ceph_conf(tmp_path: Path) -> None:
    config = tmp_path / "cowshed.toml"
    config.write_text('default_backend = "ceph"\n[stores.ceph]\ntype = "rbd"\n'
                      f'rbd_store_ceph_conf = "{tmp_path}/nowhere/ceph.conf"\n')
    line = one_error_line(serve(tmp_path, "--config", str(config)))
    assert f"rbd_store_ceph_conf {tmp_path}/nowhere/ceph.conf does not exist" in line
    assert "cowshed dev ceph up" in line


@pytest.mark.parametrize(("env", "fragment"), [
    ({"COWSHED_IMAGE_SIZE_CAP": "-1"}, "'image_size_cap' must be at least 1, got -1"),
    ({"COWSHED_DEFAULT_BACKEND": "fast"}, "default_backend 'fast' is not a configured store"),
    ({"COWSHED_IMAGE_SIZE_CAP": "lots"}, "COWSHED_IMAGE_SIZE_CAP: cannot parse 'lots'"),
    ({"COWSHED_NO_SUCH_SETTING": "1"}, "unknown environment setting COWSHED_NO_SUCH_SETTING"),
])
def test_bad_settings_are_refused_before_anything_happens(tmp_path: Path, env: dict[str, str],
                                                          fragment: str) -> None:
    line = one_error_line(serve(tmp_path, env=env))
    assert fragment in line
    assert not (tmp_path / "data").exists()


def test_a_missing_ceph_program_names_the_package(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    line = one_error_line(run("dev", "ceph", "up", "--dir", str(tmp_path / "ceph"),
                              env={"PATH": str(bare)}))
    assert "monmaptool, ceph-mon, ceph-osd not found on PATH" in line
    assert "apt-get install ceph-base ceph-mon ceph-osd" in line


def test_the_bindings_hint_names_a_command_that_works_as_written() -> None:
    from cowshed.backends.rbd._cluster import bindings_hint

    command = re.sub(r"^.*, then ", "", bindings_hint())
    assert command.startswith(sys.executable)
    result = subprocess.run([*command.split(), "--check"], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
