"""Conversion benchmark: cowshed's checked conversion against plain ``qemu-img convert``.

Run: ``.venv/bin/python bench/convert.py [--dir /var/tmp] [--size-gib 1] [--runs 3]``

The source is a qcow2 whose first half is random data and second half zeros. Each section
prints its medians and ratios to the machine's own ceiling (plain qemu-img on the same file):

* ``convert``: ``convert_for_store(qcow2 → raw)`` (inspect, qemu-img info, convert, fsync,
  re-inspect) against plain ``qemu-img convert -f qcow2 -O raw``, and against plain convert
  followed by an fsync (the fair comparison, since cowshed makes its output durable); then the
  checks alone (inspect + info + re-inspect), which do not depend on the disk's mood.

More sections (stage + import through the API) are added to ``SECTIONS``; each is a function
taking the shared :class:`Bench` and returning its printed rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cowshed.formats.inspect import inspect_file
from cowshed.formats.policy import convert_for_store
from cowshed.formats.qemu_img import QemuImg

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Bench:
    """Shared set-up: a work directory, the source image and the number of runs."""

    workdir: Path
    source: Path
    size: int
    runs: int


def make_source(workdir: Path, size: int) -> Path:
    """A qcow2 of ``size`` virtual bytes: the first half random, the second half zeros."""
    raw = workdir / "source.raw"
    with open(raw, "wb") as fh:
        chunk = 8 * MiB
        for _ in range(size // 2 // chunk):
            fh.write(os.urandom(chunk))
        fh.truncate(size)
    qcow2 = workdir / "source.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
                   check=True)
    raw.unlink()
    return qcow2


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(
    runs: int, prepare: Callable[[], None], variants: dict[str, Callable[[], None]]
) -> dict[str, list[float]]:
    """Wall-clock seconds per variant and run. Variants take turns within each run, so a
    slow phase of the (shared, virtual) disk hits all of them; ``prepare`` is untimed."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, work in variants.items():
            prepare()
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)
    return times


def section_convert(bench: Bench) -> list[str]:
    out = bench.workdir / "out.raw"
    qemu = QemuImg()

    def prepare() -> None:
        out.unlink(missing_ok=True)
        os.sync()  # earlier runs' dirty pages must not be written back inside a timed run
        time.sleep(0.5)  # and the freed blocks of the unlinked output settle (virtual disks)

    def plain() -> None:
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(bench.source),
                        str(out)], check=True)

    def plain_fsync() -> None:
        plain()
        fsync_path(out)

    def cowshed() -> None:
        result = convert_for_store(bench.source, "qcow2", out, "raw", qemu)
        assert result.converted and result.virtual_size == bench.size

    timed(1, prepare, {"warm-up": plain})  # the source in the page cache for everyone
    rows = timed(bench.runs, prepare, {
        "plain qemu-img convert": plain,
        "plain convert + fsync": plain_fsync,
        "cowshed convert_for_store": cowshed,
    })
    plain()

    def checks() -> None:
        inspect_file(bench.source, "qcow2")
        qemu.info(bench.source, "qcow2")
        inspect_file(out, "raw")

    # What cowshed adds besides the fsync, measured alone: it does not depend on the disk.
    rows.update(timed(bench.runs, lambda: None, {"checks alone (no convert)": checks}))
    out.unlink(missing_ok=True)
    base = statistics.median(rows["plain qemu-img convert"])
    base_sync = statistics.median(rows["plain convert + fsync"])
    lines = [f"convert qcow2 -> raw, {bench.size / GiB:g} GiB virtual "
             f"(half random), {bench.runs} runs, median seconds"]
    for name, times in rows.items():
        med = statistics.median(times)
        lines.append(f"  {name:26s} {med:6.3f}  x{med / base:4.2f} of plain  "
                     f"x{med / base_sync:4.2f} of plain+fsync  min {min(times):.3f}  "
                     f"runs: {', '.join(f'{t:.3f}' for t in times)}")
    return lines


SECTIONS: list[tuple[str, Callable[[Bench], list[str]]]] = [("convert", section_convert)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/var/tmp", help="work directory (not tmpfs)")
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=[name for name, _ in SECTIONS])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cowshed-bench-", dir=args.dir) as tmp:
        workdir = Path(tmp).absolute()
        size = int(args.size_gib * GiB) // MiB * MiB
        bench = Bench(workdir, make_source(workdir, size), size, args.runs)
        for name, section in SECTIONS:
            if args.only in (None, name):
                print("\n".join(section(bench)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
