"""The reflink probe of a file store uses scratch files of its own: server processes that start
together (``--workers N`` replacing several workers at once) probe the same directory."""

from __future__ import annotations

from pathlib import Path

from cowshed.backends._files import probe_reflink


def test_a_probe_leaves_another_processes_probe_files_alone(tmp_path: Path) -> None:
    theirs = [tmp_path / ".reflink-probe.a", tmp_path / ".reflink-probe.b"]
    for path in theirs:
        path.write_bytes(b"another process's probe")
    probe_reflink(tmp_path)
    assert [p.read_bytes() for p in theirs] == [b"another process's probe"] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in theirs)
