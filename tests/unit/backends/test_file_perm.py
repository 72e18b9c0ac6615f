"""``filesystem_store_file_perm``: 0 keeps the umask (as documented), a mode sets it exactly.

Before the fix, committed files came out 0600 whatever the umask, because they are created
0600 while partial and only a non-zero setting changed that.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cowshed.backends.file import FileBackend, process_umask


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def store(root: Path, perm: int) -> FileBackend:
    return FileBackend.from_options("file", {"filesystem_store_datadir": str(root),
                                             "filesystem_store_file_perm": perm})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_027")
@pytest.mark.parametrize(("perm", "expected"), [(0, 0o640), (0o604, 0o604)])
def test_committed_files_get_the_documented_mode(tmp_path: Path, perm: int,
                                                 expected: int) -> None:
    backend = store(tmp_path / "images", perm)
    writer = backend.open_writer("uploaded", None)
    writer.write(b"data" * 1000)
    writer.commit()
    backend.create("created", 1 << 20)
    backend.copy("uploaded", "copied")
    for key in ("uploaded", "created", "copied"):
        assert mode(tmp_path / "images" / key) == expected, key
    backend.close()


def test_partial_files_stay_private_until_commit(tmp_path: Path) -> None:
    backend = store(tmp_path / "images", 0o644)
    writer = backend.open_writer("key", None)
    writer.write(b"x")
    parts = list((tmp_path / "images").rglob("*.part"))
    assert [mode(p) for p in parts] == [0o600]
    writer.abort()
    backend.close()


@pytest.mark.usefixtures("umask_027")
def test_process_umask_reads_without_changing_it() -> None:
    assert process_umask() == 0o027
    assert process_umask() == 0o027
