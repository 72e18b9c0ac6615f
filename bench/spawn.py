"""Node disk manager benchmark: provisioning latency, concurrency, and the first spawn.

Run: ``.venv/bin/python bench/spawn.py [--dir /var/tmp] [--disks 100] [--size-gib 1]``

Starts a single-host Ceph cluster (``cowshed dev ceph``) and ``cowshed serve`` with an RBD store
that shows image locations, then prints:

* ``warm qcow2``: latency of ``NodeManager.spawn`` (image lookup over HTTP, lock, overlay,
  records) for ``--disks`` instances of a cached image, one after the other; p50 target ≤ 15 ms.
* ``warm rbd``: the same with ``images_type = "rbd"``: each spawn is a layered clone of the
  image's snapshot; p50 target ≤ 40 ms.
* ``concurrent``: ``--disks`` spawns of the cached image at once (32 threads): wall time,
  spawns/s and per-spawn p50/p99.
* ``first spawn``: spawning from an uncached ``--size-gib`` qcow2 (half random data, half
  zeros) — download with md5 + sha512, inspection, conversion to raw, fsync, publish, overlay —
  against the same by hand in the same run: a streamed download to a file checked against
  ``os_hash_value`` (sha512, what ``glance image-download`` verifies), then ``qemu-img convert
  -f qcow2 -O raw`` and an fsync of the result. Target ratio ≤ 1.15. The ratio to a download
  that checks nothing is printed too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

# bench/rbd.py would shadow librbd's ``rbd`` module for the code under test
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from cowshed.config import load_settings  # noqa: E402
from cowshed.dev.ceph import DevCephCluster  # noqa: E402
from cowshed.dev.ceph_conf import GiB  # noqa: E402
from cowshed.node.manager import NodeManager, SpawnRequest  # noqa: E402

MiB = 1 << 20
COWSHED = Path(sys.executable).with_name("cowshed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(work: Path, cluster: DevCephCluster) -> Iterator[str]:
    config = work / "serve.toml"
    config.write_text(
        "show_multiple_locations = true\nshow_image_direct_url = true\n"
        'default_backend = "ceph"\n[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "images"\n'
        f'rbd_store_ceph_conf = "{cluster.conf_path}"\n')
    port = free_port()
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen([str(COWSHED), "serve", "--data-dir", str(work / "serve"),
                             "--config", str(config), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/versions", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("cowshed serve did not start; see " + str(work / "serve.log"))
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def upload(url: str, path: Path, disk_format: str) -> str:
    with httpx.Client(base_url=url, timeout=600) as client:
        image = client.post("/v2/images", json={"name": path.name, "disk_format": disk_format,
                                                "container_format": "bare"}).json()
        with path.open("rb") as fh:
            resp = client.put(f"/v2/images/{image['id']}/file", content=iter(
                lambda: fh.read(8 * MiB), b""), headers={
                "Content-Type": "application/octet-stream"})
        resp.raise_for_status()
        return str(image["id"])


def make_image(path: Path, size: int, fmt: str) -> Path:
    raw = path.with_suffix(".raw")
    with raw.open("wb") as fh:
        for _ in range(size // 2 // (8 * MiB)):
            fh.write(os.urandom(8 * MiB))
        fh.truncate(size)
    if fmt == "raw":
        return raw
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(raw), str(path)],
                   check=True)
    raw.unlink()
    return path


def node(work: Path, url: str, cluster: DevCephCluster, name: str, **extra: str) -> NodeManager:
    config = work / f"{name}.toml"
    lines = [f'image_service_url = "{url}"', f'instances_path = "{work / name}"',
             'images_rbd_pool = "vms"', f'images_rbd_ceph_conf = "{cluster.conf_path}"',
             *(f'{k} = "{v}"' for k, v in extra.items())]
    config.write_text("[node]\n" + "\n".join(lines) + "\n")
    return NodeManager(load_settings(config_file=config, data_dir=work / f"{name}-data",
                                     environ={}))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_spawns(manager: NodeManager, image: str, prefix: str, count: int) -> list[float]:
    out = []
    for i in range(count):
        start = time.perf_counter()
        manager.spawn(SpawnRequest(f"{prefix}-{i}", image))
        out.append(time.perf_counter() - start)
    return out


def report_latency(label: str, times: list[float], target_ms: float) -> None:
    p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
    verdict = "ok" if p50 <= target_ms else "MISSED"
    print(f"{label:<12} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  (n={len(times)}; "
          f"target p50 <= {target_ms:.0f} ms: {verdict}; ratio {p50 / target_ms:.2f})")


def bench_warm(work: Path, url: str, cluster: DevCephCluster, image: str, disks: int) -> None:
    with node(work, url, cluster, "warm-qcow2", images_type="qcow2") as manager:
        manager.spawn(SpawnRequest("warmup", image))  # fetches the base once
        report_latency("warm qcow2", timed_spawns(manager, image, "q", disks), 15)
    with node(work, url, cluster, "warm-rbd", images_type="rbd") as manager:
        manager.spawn(SpawnRequest("warmup", image))
        times = timed_spawns(manager, image, "r", disks)
        report_latency("warm rbd", times, 40)
        for i in range(disks):
            manager.delete(f"r-{i}")
        manager.delete("warmup")


def bench_concurrent(work: Path, url: str, cluster: DevCephCluster, image: str,
                     disks: int) -> None:
    with node(work, url, cluster, "concurrent", images_type="qcow2") as manager:
        manager.spawn(SpawnRequest("warmup", image))

        def one(i: int) -> float:
            start = time.perf_counter()
            manager.spawn(SpawnRequest(f"c-{i}", image))
            return time.perf_counter() - start

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            times = list(pool.map(one, range(disks)))
        wall = time.perf_counter() - start
    print(f"{'concurrent':<12} {disks} spawns in {wall:.2f} s ({disks / wall:.0f}/s, 32 threads);"
          f" per spawn p50 {percentile(times, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(times, 0.99) * 1000:.1f} ms")


def by_hand(url: str, image: str, dst: Path, verify: bool) -> float:
    """Streamed download (checked against ``os_hash_value`` when ``verify``, as
    ``glance image-download`` does) + qemu-img convert + fsync of the result."""
    start = time.perf_counter()
    qcow2 = dst.with_suffix(".qcow2")
    digest = hashlib.sha512()
    with httpx.stream("GET", f"{url}/v2/images/{image}/file", timeout=600) as resp, \
            qcow2.open("wb") as fh:
        for chunk in resp.iter_raw(8 * MiB):
            if verify:
                digest.update(chunk)
            fh.write(chunk)
    if verify:
        expected = httpx.get(f"{url}/v2/images/{image}", timeout=60).json()["os_hash_value"]
        assert digest.hexdigest() == expected
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", "-W", str(qcow2),
                    str(dst)], check=True)
    fd = os.open(dst, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    elapsed = time.perf_counter() - start
    qcow2.unlink()
    dst.unlink()
    return elapsed


def bench_first_spawn(work: Path, url: str, cluster: DevCephCluster, image: str,
                      runs: int) -> None:
    ours, hand, plain = [], [], []
    for run in range(runs):
        hand.append(by_hand(url, image, work / f"hand-{run}.raw", verify=True))
        plain.append(by_hand(url, image, work / f"plain-{run}.raw", verify=False))
        with node(work, url, cluster, f"first-{run}", images_type="qcow2") as manager:
            start = time.perf_counter()
            manager.spawn(SpawnRequest("first", image))
            ours.append(time.perf_counter() - start)
        shutil.rmtree(work / f"first-{run}")
    o, h, p = (statistics.median(x) for x in (ours, hand, plain))
    verdict = "ok" if o / h <= 1.15 else "MISSED"
    print(f"{'first spawn':<12} cowshed {o:.2f} s  by hand {h:.2f} s  ratio {o / h:.2f} "
          f"(target <= 1.15: {verdict})")
    print(f"{'':<12} by hand without checking the download: {p:.2f} s (ratio {o / p:.2f}); "
          f"runs: cowshed {[round(x, 2) for x in ours]}, by hand {[round(x, 2) for x in hand]}, "
          f"unchecked {[round(x, 2) for x in plain]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default="/var/tmp")
    parser.add_argument("--disks", type=int, default=100)
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cowshed-bench-spawn-", dir=args.dir))
    try:
        with DevCephCluster(work / "ceph", osds=1, memstore_bytes=4 * GiB) as cluster:
            cluster.create_pool("vms")
            with serve(work, cluster) as url:
                small = upload(url, make_image(work / "small.raw", 64 * MiB, "raw"), "raw")
                bench_warm(work, url, cluster, small, args.disks)
                bench_concurrent(work, url, cluster, small, args.disks)
                size = int(args.size_gib * GiB)
                big = upload(url, make_image(work / "big.qcow2", size, "qcow2"), "qcow2")
                bench_first_spawn(work, url, cluster, big, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
