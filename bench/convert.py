"""Conversion benchmark: cowshed's checked conversion against plain ``qemu-img convert``.

Run: ``.venv/bin/python bench/convert.py [--dir /var/tmp] [--size-gib 1] [--runs 3]``

The source is a qcow2 whose first half is random data and second half zeros. Each section
prints its medians and ratios to the machine's own ceiling (plain qemu-img on the same file):

* ``convert``: ``convert_for_store(qcow2 → raw)`` (inspect, qemu-img info, convert, fsync,
  re-inspect) against plain ``qemu-img convert -f qcow2 -O raw``, and against plain convert
  followed by an fsync (the fair comparison, since cowshed makes its output durable); then the
  checks alone (inspect + info + re-inspect), which do not depend on the disk's mood.

* ``import``: the whole glance-direct stage + import over HTTP against a running ``cowshed
  serve`` whose store has ``convert_to = "raw"`` (inspect while staging, hash, inspect again,
  qemu-img info + convert, hash and store the raw result), against the same by hand: upload
  to a bare reference server that only hashes and fsyncs (``_refserve.py``), then plain
  ``qemu-img convert`` + fsync.

Each section is a function taking the shared :class:`Bench` and returning its printed rows.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def hash_file(path: Path) -> None:
    """md5 and sha512 of a file, in two threads (what a store computes for Glance)."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    with ThreadPoolExecutor(2) as pool, path.open("rb") as fh:
        while block := fh.read(8 * MiB):
            for done in [pool.submit(md5.update, block), pool.submit(sha.update, block)]:
                done.result()


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


# -- stage + import through the API -----------------------------------------------------------

HERE = Path(__file__).resolve().parent
CURL_PUT = ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:",
            "-H", "Content-Type: application/octet-stream", "-T"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _process(argv: list[str], ready_url: str | None, log: Path) -> Iterator[int]:
    """Run ``argv`` until the block ends; ready when ``ready_url`` answers (or, without one,
    when the process prints ``ready``). Yields the pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE if ready_url is None else out,
                                stderr=out)
        try:
            if ready_url is None:
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != b"ready":
                    raise RuntimeError(f"{argv[:3]} did not start; see {log}")
            else:
                deadline = time.monotonic() + 30
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{argv[:3]} exited; see {log}")
                    with contextlib.suppress(OSError):
                        urllib.request.urlopen(ready_url, timeout=1).close()
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{ready_url} did not answer; see {log}")
                    time.sleep(0.1)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _api(method: str, url: str, body: object = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        raw = resp.read()
    found: dict[str, Any] = json.loads(raw) if raw else {}
    return found


def _cowshed_argv() -> list[str]:
    script = Path(sys.executable).parent / "cowshed"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cowshed.cli.main import main; main()"]


class _Importer:
    """Drives one ``cowshed serve`` whose only store converts to raw on import."""

    def __init__(self, base: str, size: int) -> None:
        self.base = base
        self.size = size
        self.stage_times: list[float] = []
        self.import_times: list[float] = []
        self.image_id = ""

    def prepare(self) -> None:
        if self.image_id:
            _api("DELETE", f"{self.base}/v2/images/{self.image_id}")
        self.image_id = str(_api("POST", f"{self.base}/v2/images", {
            "name": "bench", "disk_format": "qcow2", "container_format": "bare"})["id"])

    def run(self, source: Path) -> None:
        start = time.perf_counter()
        subprocess.run([*CURL_PUT, str(source), f"{self.base}/v2/images/{self.image_id}/stage"],
                       check=True)
        staged = time.perf_counter()
        _api("POST", f"{self.base}/v2/images/{self.image_id}/import",
             {"method": {"name": "glance-direct"}})
        while True:
            image = _api("GET", f"{self.base}/v2/images/{self.image_id}")
            if image["status"] == "active":
                break
            if image["status"] == "queued":
                raise RuntimeError(f"import failed: {image}")
            # 0.1 s: fine enough for seconds-long imports; polling every 20 ms measurably
            # slows the import (the requests compete for the 2 CPUs and the GIL)
            time.sleep(0.1)
        done = time.perf_counter()
        if (image["disk_format"], image["virtual_size"]) != ("raw", self.size):
            raise RuntimeError(f"import did not convert to raw: {image}")
        self.stage_times.append(staged - start)
        self.import_times.append(done - staged)


def section_import(bench: Bench) -> list[str]:
    """glance-direct stage + import into a ``convert_to = "raw"`` store, over HTTP, against
    the same work by hand: upload the qcow2 to the bare reference server (md5 + sha512 +
    fsync, ``_refserve.py``), then ``qemu-img convert -f qcow2 -O raw`` and fsync."""
    work = bench.workdir / "import"
    (work / "ref").mkdir(parents=True)
    config = work / "cowshed.toml"
    config.write_text(f'default_backend = "file"\n[stores.file]\ntype = "file"\n'
                      f'filesystem_store_datadir = "{work / "store"}"\nconvert_to = "raw"\n')
    port, ref_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [*_cowshed_argv(), "serve", "--data-dir", str(work / "data"), "--config",
             str(config), "--port", str(port), "--log-level", "warning"]
    ref = [sys.executable, str(HERE / "_refserve.py"), "upload", str(ref_port), str(work / "ref")]
    uploaded, out = work / "ref" / "upload.part", work / "by-hand.raw"
    hand_parts: dict[str, list[float]] = {"upload": [], "convert": [], "hash": []}

    def by_hand() -> None:
        start = time.perf_counter()
        subprocess.run([*CURL_PUT, str(bench.source), f"http://127.0.0.1:{ref_port}/"],
                       check=True)
        mid = time.perf_counter()
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(uploaded),
                        str(out)], check=True)
        fsync_path(out)
        hand_parts["upload"].append(mid - start)
        hand_parts["convert"].append(time.perf_counter() - mid)

    def by_hand_hashed() -> None:
        by_hand()
        start = time.perf_counter()
        hash_file(out)
        hand_parts["hash"].append(time.perf_counter() - start)

    with (_process(serve, f"{base}/versions", work / "cowshed.log"),
          _process(ref, None, work / "ref.log")):
        cow = _Importer(base, bench.size)

        def prepare() -> None:
            uploaded.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
            cow.prepare()
            os.sync()
            time.sleep(0.5)

        timed(1, prepare, {"warm-up": by_hand})
        for kept in hand_parts.values():
            kept.clear()
        rows = timed(bench.runs, prepare, {
            "by hand: upload + convert": by_hand,
            "by hand, + hash the raw": by_hand_hashed,
            "cowshed: stage + import": lambda: cow.run(bench.source),
        })
        prepare()
    base_time = statistics.median(rows["by hand: upload + convert"])
    hashed_time = statistics.median(rows["by hand, + hash the raw"])
    lines = [f"stage + import of a {bench.size / GiB:g} GiB qcow2 (half zeros) into a "
             f"convert_to=raw store, {bench.runs} runs, median seconds"]
    for name, times in rows.items():
        med = statistics.median(times)
        lines.append(f"  {name:27s} {med:6.3f}  x{med / base_time:4.2f} of by hand  "
                     f"x{med / hashed_time:4.2f} of by hand + hash  "
                     f"runs: {', '.join(f'{t:.3f}' for t in times)}")
    parts = [("by hand: upload", hand_parts["upload"]),
             ("by hand: convert + fsync", hand_parts["convert"]),
             ("by hand: hash the raw", hand_parts["hash"]),
             ("cowshed: PUT stage", cow.stage_times),
             ("cowshed: import to active", cow.import_times)]
    for name, times in parts:
        lines.append(f"    {name:25s} {statistics.median(times):6.3f}")
    cowshed = statistics.median(rows["cowshed: stage + import"])
    lines.append(f"  ratio cowshed / by hand: {cowshed / base_time:.2f}; cowshed / by hand with "
                 f"the stored bytes hashed (md5 + sha512, as cowshed does): "
                 f"{cowshed / hashed_time:.2f}")
    return lines


SECTIONS: list[tuple[str, Callable[[Bench], list[str]]]] = [
    ("convert", section_convert),
    ("import", section_import),
]


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
