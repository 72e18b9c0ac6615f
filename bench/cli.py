"""How long a ``cowshed`` command takes to start, beside a bare click program, in the same run.

    .venv/bin/python bench/cli.py [--runs 10] [--images 20] [--work-dir DIR]

Times, alternating so that drift on a shared machine hits every command alike:

- the ceiling: ``python -c "import click"`` (what any click program pays before its own code);
- ``cowshed --help``;
- ``cowshed image list`` on a small data dir (``--images`` records, SQLite) through the library;
- ``cowshed image list --os-image-url URL`` against a ``cowshed serve`` on the same data dir.

cowshed's bytecode is compiled first (``compileall``), as an installed package has it: with
``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__``, every start would compile ~120 modules
from source (~0.6 s) and measure that instead.

Reports the median wall seconds and CPU seconds (user + system of the child, steadier than
wall time on a loaded machine) and each command's CPU ratio to the ceiling, against targets.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import free_port, wait_ready

COWSHED = str(Path(sys.executable).with_name("cowshed"))
#: CPU ratio to the bare click program each command must stay under.
TARGETS = {"cowshed --help": 3.0, "image list (library)": 8.0, "image list (HTTP)": 5.0}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("COWSHED_", "OS_"))}


@contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    port = free_port()
    log = (data_dir.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [COWSHED, "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=clean_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log.name)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run; the command must succeed."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=clean_env())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-500:]}"
                           if proc.stderr else f"{' '.join(argv)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    import cowshed

    compileall.compile_dir(str(Path(cowshed.__file__).parent), quiet=1)
    root = Path(tempfile.mkdtemp(prefix="cowshed-bench-cli-", dir=args.work_dir))
    data_dir = root / "data"
    try:
        for i in range(args.images):
            timed([COWSHED, "image", "create", "--data-dir", str(data_dir), "--name",
                   f"bench-{i}", "--property", f"n={i}"])
        with serve(data_dir) as url:
            commands = {
                "ceiling (import click)": [sys.executable, "-c", "import click"],
                "cowshed --help": [COWSHED, "--help"],
                "image list (library)": [COWSHED, "image", "list", "--data-dir", str(data_dir)],
                "image list (HTTP)": [COWSHED, "image", "--os-image-url", url, "list"],
            }
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
            for _ in range(args.runs):
                for name, argv in commands.items():
                    samples[name].append(timed(argv))
        ceiling_cpu = statistics.median(c for _, c in samples["ceiling (import click)"])
        print(f"{'command':<24} {'wall s':>7} {'CPU s':>7} {'CPU ratio':>9}  target")
        for name, runs in samples.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            target = TARGETS.get(name)
            verdict = "" if target is None else (
                f"<= {target:.1f} " + ("ok" if cpu / ceiling_cpu <= target else "ABOVE TARGET"))
            print(f"{name:<24} {wall:7.3f} {cpu:7.3f} {cpu / ceiling_cpu:9.2f}  {verdict}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
