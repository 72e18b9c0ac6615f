"""RBD backend throughput against Ceph's own tools, on a fresh single-host dev cluster.

    .venv/bin/python bench/rbd.py [--size-mib 1024] [--runs 3]     (or: python -m bench.rbd)

Prints, for one file of random bytes (1 GiB by default):

* write: ``RbdBackend`` writer (library call: no HTTP, no hashing) vs ``rbd import``;
* read: ``RbdBackend.open_read`` (bytes discarded) vs ``rbd export`` to /dev/null;
* thin: a half-zero image's allocated bytes as Ceph (``rbd du``) and ``stat`` report them;
* http: an HTTP upload to the RBD store versus the same upload to the file store, through
  ``cowshed serve`` configured with both stores (``[stores.file]`` default, ``[stores.ceph]``
  on this dev cluster): ``curl -T FILE -H 'Expect:' -H 'Content-Type: application/octet-stream'
  -H 'X-Image-Meta-Store: NAME'``, ``--http-runs`` runs per store, alternating, medians. Both
  go through the whole upload pipeline (md5 + sha512, format inspector, size checks, commit,
  SQLite); the RBD side ends with flush + snapshot + protect + rename, the file side with
  fsync + rename. Target: rbd / file ≥ 0.9.

Both sides use 8 MiB objects and read the input from the page cache. Runs alternate between the
two sides (so load from other processes hits both alike); the best and the median of ``--runs``
runs are printed. Targets: ratios (cowshed / tool) ≥ 0.9. CPU seconds per run are printed too:
they do not depend on the machine's load.
"""

# ruff: noqa: E402  (sys.path must be fixed before anything imports ``rbd``)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and this module would shadow
# librbd's ``rbd`` binding; drop it before anything imports ``rbd``.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import contextlib
import functools
import hashlib
import json
import os
import resource
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
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


# -- HTTP upload: the RBD store against the file store, through ``cowshed serve`` -------------

HTTP_TARGET = 0.9
CURL_UP = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
           "-H", "Expect:", "-H", "Content-Type: application/octet-stream"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _api(method: str, url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_serve_config(work: Path, cluster: DevCephCluster) -> Path:
    config = work / "cowshed.toml"
    config.write_text(
        'default_backend = "file"\n'
        f'[stores.file]\ntype = "file"\nfilesystem_store_datadir = "{work / "images"}"\n'
        f'[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "{POOL}"\n'
        f'rbd_store_ceph_conf = "{cluster.conf_path}"\n'
    )
    return config


@contextlib.contextmanager
def cowshed_serve(work: Path, config: Path) -> Iterator[tuple[str, int]]:
    """``cowshed serve`` on a free port; yields (base URL, pid) once it answers."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    script = Path(sys.executable).with_name("cowshed")
    argv = [str(script), "serve", "--data-dir", str(work / "data"), "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with (work / "serve.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"cowshed serve exited ({proc.returncode}); see {log.name}")
                try:
                    urllib.request.urlopen(f"{base}/versions", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield base, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def http_upload(base: str, pid: int, source: Path, store: str, side: Side) -> str:
    """Create an image and PUT ``source`` into ``store`` with curl; records wall and CPU time
    (curl's own total time; the server's CPU seconds). Returns the image id."""
    image = _api("POST", f"{base}/v2/images",
                 {"name": f"bench-{store}", "disk_format": "raw", "container_format": "bare"})
    image_id = str(image["id"])
    cpu0 = _proc_cpu(pid)
    done = subprocess.run([*CURL_UP, "-H", f"X-Image-Meta-Store: {store}", "-T", str(source),
                           f"{base}/v2/images/{image_id}/file"],
                          check=True, capture_output=True, text=True)
    side.cpu.append(_proc_cpu(pid) - cpu0)
    code, seconds = done.stdout.split()
    if code != "204":
        raise RuntimeError(f"upload to {store} answered {code}")
    side.seconds.append(float(seconds))
    return image_id


def bench_http_upload(cluster: DevCephCluster, work: Path, source: Path, runs: int) -> None:
    size = source.stat().st_size
    sides = {"ceph": Side("rbd store"), "file": Side("file store")}
    expected = _md5(source)
    work.mkdir(parents=True, exist_ok=True)
    with cowshed_serve(work, write_serve_config(work, cluster)) as (base, pid):
        for run in range(runs):
            order = ("file", "ceph") if run % 2 == 0 else ("ceph", "file")
            for store in order:
                image_id = http_upload(base, pid, source, store, sides[store])
                image = _api("GET", f"{base}/v2/images/{image_id}")
                if (image["stores"], image["checksum"]) != (store, expected):
                    raise RuntimeError(f"upload to {store} stored {image}")
                _api("DELETE", f"{base}/v2/images/{image_id}")
            print(f"  http run {run + 1}: file {size / MiB / sides['file'].seconds[-1]:.0f} MiB/s,"
                  f" rbd {size / MiB / sides['ceph'].seconds[-1]:.0f} MiB/s", flush=True)
    rbd_side, file_side = sides["ceph"], sides["file"]
    mine, theirs = rbd_side.rate(size, statistics.median), file_side.rate(size, statistics.median)
    verdict = "ok" if mine / theirs >= HTTP_TARGET else "MISS"
    print(f"http   median rbd store {mine:6.0f} MiB/s   file store {theirs:6.0f} MiB/s   "
          f"ratio {mine / theirs:5.2f} (target ≥ {HTTP_TARGET}: {verdict})")
    gib = size / GiB
    print(f"http   server cpu rbd store {statistics.median(rbd_side.cpu) / gib:5.2f} s/GiB   "
          f"file store {statistics.median(file_side.cpu) / gib:5.2f} s/GiB")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--http-runs", type=int, default=3,
                        help="HTTP uploads per store (0 skips the HTTP section)")
    parser.add_argument("--only-http", action="store_true", help="run the HTTP section only")
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
              f"{size / MiB:.0f} MiB random file; {args.runs} runs per side, "
              f"{args.http_runs} HTTP uploads per store")
        backend = RbdBackend.from_options("bench", {"rbd_store_ceph_conf": str(cluster.conf_path)})
        try:
            if not args.only_http:
                bench_write_read(cluster, backend, source, args.runs)
                bench_thin(cluster, backend, size)
            if args.http_runs:
                bench_http_upload(cluster, Path(tmp) / "serve", source, args.http_runs)
        finally:
            backend.close()
            cluster.down()


if __name__ == "__main__":
    main()
