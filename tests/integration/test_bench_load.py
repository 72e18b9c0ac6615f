"""A tiny run of ``bench/load.py`` (40 images, SQLite, one worker) so the benchmark cannot rot:
every operation it times answers as expected and every row of its table is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_load_smoke(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--images", "40", "--databases",
         "sqlite", "--requests", "8", "--concurrency", "4", "--explain",
         "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for row in ("ceiling: GET /versions", "create (POST, 40 images)", "list tag=t7",
                "list marker, sort=name:asc", "show (GET one image)", "delete (4)"):
        assert row in out, out
    assert "### plans (sqlite)" in out and "FULL SCAN" not in out, out
