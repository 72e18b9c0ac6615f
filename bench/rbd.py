"""RBD backend throughput against Ceph's own tools, on a fresh single-host dev cluster.

    .venv/bin/python bench/rbd.py [--size-mib 1024] [--runs 3]     (or: python -m bench.rbd)

Prints, for one file of random bytes (1 GiB by default):

* write: ``RbdBackend`` writer (library call: no HTTP, no hashing) vs ``rbd import``;
* read: ``RbdBackend.open_read`` (bytes discarded) vs ``rbd export`` to /dev/null;
* thin: a half-zero image's allocated bytes as Ceph (``rbd du``) and ``stat`` report them.

Both sides use 8 MiB objects and read the input from the page cache. Runs alternate between the
two sides (so load from other processes hits both alike); the best and the median of ``--runs``
runs are printed. Targets: ratios (cowshed / tool) ≥ 0.9. CPU seconds per run are printed too:
they do not depend on the machine's load. An HTTP upload comparison belongs to the service
layer and is not part of this script.
"""

# ruff: noqa: E402  (sys.path must be fixed before anything imports ``rbd``)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and this module would shadow
# librbd's ``rbd`` binding; drop it before anything imports ``rbd``.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cowshed.backends.rbd import RbdBackend
from cowshed.dev.ceph import DevCephCluster
from cowshed.dev.ceph_conf import GiB

MiB = 1 << 20
POOL = "images"


@dataclass
class Side:
    """Timings of one side of a comparison."""

    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run(self, action: Callable[[], object], children: bool) -> None:
        who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
        cpu0, started = _cpu(who), time.perf_counter()
        action()
        self.seconds.append(time.perf_counter() - started)
        self.cpu.append(_cpu(who) - cpu0)

    def rate(self, size: int, pick: Callable[[list[float]], float]) -> float:
        return size / MiB / pick(self.seconds)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rbd(conf: Path, *args: str) -> str:
    proc = subprocess.run(["rbd", "-c", str(conf), *args], check=True, capture_output=True,
                          text=True)
    return proc.stdout


def backend_write(backend: RbdBackend, source: Path, key: str) -> None:
    buffer = bytearray(8 * MiB)
    view = memoryview(buffer)
    writer = backend.open_writer(key, source.stat().st_size)
    with open(source, "rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            writer.write(view[:n])
    writer.commit()


def backend_read(backend: RbdBackend, key: str) -> None:
    for _ in backend.open_read(key):
        pass


def report(label: str, ours: Side, theirs: Side, size: int) -> None:
    for pick_name, pick in (("best", min), ("median", statistics.median)):
        mine, tool = ours.rate(size, pick), theirs.rate(size, pick)
        print(f"{label:6} {pick_name:6} cowshed {mine:6.0f} MiB/s   {theirs.name} {tool:6.0f} "
              f"MiB/s   ratio {mine / tool:5.2f}")
    print(f"{label:6} cpu    cowshed {statistics.mean(ours.cpu):6.2f} s/run    {theirs.name} "
          f"{statistics.mean(theirs.cpu):6.2f} s/run")


def bench_write_read(cluster: DevCephCluster, backend: RbdBackend, source: Path,
                     runs: int) -> None:
    size = source.stat().st_size
    conf = cluster.conf_path
    ours, theirs = Side("cowshed"), Side("rbd import")
    for _ in range(runs):
        key = str(uuid.uuid4())
        ours.run(functools.partial(backend_write, backend, source, key), children=False)
        backend.delete(key)
        theirs.run(lambda: rbd(conf, "import", "--no-progress", "--object-size", "8M",
                               str(source), f"{POOL}/imported"), children=True)
        rbd(conf, "rm", "--no-progress", f"{POOL}/imported")
    report("write", ours, theirs, size)

    key = str(uuid.uuid4())
    backend_write(backend, source, key)
    export = ["rbd", "-c", str(conf), "export", "--no-progress", f"{POOL}/{key}", "-"]
    ours, theirs = Side("cowshed"), Side("rbd export")
    for _ in range(runs):
        ours.run(lambda: backend_read(backend, key), children=False)
        theirs.run(lambda: subprocess.run(export, check=True, stdout=subprocess.DEVNULL),
                   children=True)
    report("read", ours, theirs, size)
    started = time.perf_counter()
    info = backend.stat(key)
    print(f"stat   {info.size / MiB:.0f} MiB object, allocated {info.allocated or 0:,} B, "
          f"in {1000 * (time.perf_counter() - started):.0f} ms")
    backend.delete(key)


def bench_thin(cluster: DevCephCluster, backend: RbdBackend, size: int) -> None:
    """Alternate 8 MiB of random data and 8 MiB of zeros; report what Ceph allocated."""
    key = str(uuid.uuid4())
    writer = backend.open_writer(key, size)
    data, zeros = os.urandom(8 * MiB), bytes(8 * MiB)
    for _ in range(0, size, 16 * MiB):
        writer.write(data)
        writer.write(zeros)
    writer.commit()
    du = json.loads(rbd(cluster.conf_path, "du", "--format", "json", f"{POOL}/{key}"))
    used = max(entry["used_size"] for entry in du["images"])
    allocated = backend.stat(key).allocated or 0
    print(f"thin   half-zero image of {size / MiB:.0f} MiB: rbd du used {used / MiB:.0f} MiB "
          f"({used / size:.0%}), stat allocated {allocated / MiB:.0f} MiB")
    backend.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="cowshed-bench-rbd-") as tmp:
        source = Path(tmp) / "random.img"
        with open(source, "wb") as handle:
            for _ in range(0, size, 64 * MiB):
                handle.write(os.urandom(min(64 * MiB, size)))
        cluster = DevCephCluster(Path(tmp) / "ceph", memstore_bytes=max(4 * GiB, 4 * size))
        started = time.perf_counter()
        cluster.up()
        print(f"dev cluster up in {time.perf_counter() - started:.1f} s; "
              f"{size / MiB:.0f} MiB random file; {args.runs} runs per side")
        backend = RbdBackend.from_options("bench", {"rbd_store_ceph_conf": str(cluster.conf_path)})
        try:
            bench_write_read(cluster, backend, source, args.runs)
            bench_thin(cluster, backend, size)
        finally:
            backend.close()
            cluster.down()


if __name__ == "__main__":
    main()
