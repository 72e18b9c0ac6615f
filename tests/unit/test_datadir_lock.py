"""The data-dir lock in one process (flock locks open file descriptions, so two acquisitions
in one process conflict exactly as two processes do)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cowshed.errors import ConfigError, DataDirInUse
from cowshed.services.datadir import DataDirLock, Holder, read_holder

SERVER = Holder(pid=4242, command="cowshed serve", host="0.0.0.0", port=9393,
                started_at="2025-01-31T09:00:00Z")


def test_an_exclusive_holder_is_named_to_whoever_is_refused(tmp_path: Path) -> None:
    with DataDirLock.acquire(tmp_path / "d", SERVER):
        assert read_holder(tmp_path / "d") == SERVER
        with pytest.raises(DataDirInUse) as second:
            DataDirLock.acquire(tmp_path / "d", Holder(1, "cowshed serve"))
        assert second.value.message == (
            f"data dir {tmp_path / 'd'} is in use by cowshed serve (pid 4242 on 0.0.0.0:9393 "
            "since 2025-01-31T09:00:00Z); stop it first, or use another --data-dir")
        with pytest.raises(DataDirInUse) as writer:
            DataDirLock.acquire(tmp_path / "d", Holder(1, "cowshed"), exclusive=False)
        assert "go through its API at http://127.0.0.1:9393, or stop it first" in \
            writer.value.message
    assert read_holder(tmp_path / "d") is None
    DataDirLock.acquire(tmp_path / "d", SERVER).release()  # free again after release


def test_shared_holders_coexist_and_keep_a_server_out(tmp_path: Path) -> None:
    one = DataDirLock.acquire(tmp_path, Holder(1, "cowshed"), exclusive=False)
    two = DataDirLock.acquire(tmp_path, Holder(1, "cowshed"), exclusive=False)
    with pytest.raises(DataDirInUse, match=rf"cowshed commands \(pid {os.getpid()}\)") as caught:
        DataDirLock.acquire(tmp_path, SERVER)
    assert "another --data-dir" in caught.value.message
    one.release()
    two.release()
    two.release()  # idempotent
    DataDirLock.acquire(tmp_path, SERVER).release()


def test_an_unusable_data_dir_is_one_line_with_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        DataDirLock.acquire(blocker / "d", SERVER)
    assert caught.value.message == (
        f"cannot use data dir {blocker / 'd'}: Not a directory; choose a writable directory "
        "with --data-dir or COWSHED_DATA_DIR")
