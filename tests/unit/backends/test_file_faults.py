"""The file store under injected faults: a failed sync, and a competitor at publish time."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cowshed.backends.file import FileBackend, FileConfig
from cowshed.errors import AlreadyExists, BackendUnavailable


def _store(tmp_path: Path) -> FileBackend:
    return FileBackend("file", FileConfig(filesystem_store_datadir=str(tmp_path / "store")))


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("failing", ["fsync", "ftruncate"])
def test_a_failed_sync_at_commit_closes_the_file_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    store = _store(tmp_path)
    before = _open_fds()
    writer = store.open_writer("key-1", None)
    writer.write(b"x" * 4096)

    def fail(*args: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(BackendUnavailable):
        writer.commit()
    monkeypatch.undo()
    writer.abort()  # the caller's undo path: harmless after a failed commit
    assert _open_fds() == before, "the part file's descriptor leaked"
    assert not store.exists("key-1")
    assert list((store.root / ".incoming").iterdir()) == []


def test_commit_never_replaces_an_object_published_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A competitor publishes the same key at the last moment before our publish call."""
    store = _store(tmp_path)
    writer = store.open_writer("key-1", None)
    writer.write(b"ours")
    target = store.root / "key-1"
    real_link, real_rename = os.link, os.rename

    def competitor_first(real: object) -> object:
        def call(src: object, dst: object, *args: object, **kwargs: object) -> None:
            if Path(str(dst)) == target and not target.exists():
                target.write_bytes(b"theirs")
            real(src, dst, *args, **kwargs)  # type: ignore[operator]
        return call

    monkeypatch.setattr(os, "link", competitor_first(real_link))
    monkeypatch.setattr(os, "rename", competitor_first(real_rename))
    with pytest.raises(AlreadyExists):
        writer.commit()
    monkeypatch.undo()
    assert target.read_bytes() == b"theirs"
    assert list((store.root / ".incoming").iterdir()) == []
