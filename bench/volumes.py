"""Volume figures against ceilings measured in the same run, on a fresh single-host Ceph cluster
and a local directory.

    .venv/bin/python -m bench.volumes [--runs 5] [--big-gib 8] [--read-mib 1024]

Sections (targets from issue 19):

* clone: a clone of a fully written 1 GiB and of a fully written ``--big-gib`` GiB volume, each
  from a fresh clone snapshot (the source is attached and detached before every clone, so it
  cannot be reused) — ratio big/1 GiB ≤ 1.2: the cost does not depend on size — on RBD and on
  the file backend (qcow2 overlays);
* reuse: a clone of an unchanged volume (its clone snapshot reused) against one that needs a new
  snapshot; target ≤ 0.1 s with reuse;
* from-image: a volume from a raw image in the RBD image store (a clone of ``image@snap``)
  against a full copy of the same image (``rbd cp``);
* reads vs ``rbd export`` of the same image in the same run (alternating, medians): an image
  download over HTTP from the rbd store (``cowshed serve`` + curl to /dev/null), an
  upload-to-image of a volume into the rbd store (request to active image, md5 + sha512 of every
  byte included, as Glance records them), a full volume copy (``rbd_max_clone_depth = 0``).
  Target ≥ 0.85. Two more ceilings measured in the same rounds say what bounds the last two:
  ``hashes`` (md5 and sha512 of the same bytes in memory, one thread each: the work any
  Glance-compatible upload does) for upload-to-image, and ``rbd cp`` of the same volume (a copy
  reads and writes every byte; export only reads) for the full copy.

Every clone and create is timed from the library call to ``available`` (``wait_volume``).
"""

# ruff: noqa: E402  (sys.path must be fixed before anything imports ``rbd``)
from __future__ import annotations

import sys
from pathlib import Path

# As a script, this directory would come first on sys.path and ``bench/rbd.py`` would shadow
# librbd's ``rbd``: drop it, and make the repository root importable for ``bench.rbd``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import asyncio
import concurrent.futures
import functools
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable

from bench.rbd import Side, cowshed_serve

from cowshed.config import load_settings
from cowshed.dev.ceph import DevCephCluster
from cowshed.dev.ceph_conf import GiB
from cowshed.domain.volumes import Caller, Volume
from cowshed.services.app import Services, open_services

MiB = 1 << 20
CALLER = Caller(project_id="bench", user_id="bench", is_admin=True)
CLONE_RATIO_MAX = 1.2
REUSE_MAX_S = 0.1
READ_TARGET = 0.85
#: the image pool of the in-process deployments (the HTTP server's is ``images``).
BENCH_IMAGES = "bench-images"


def config(work: Path, cluster: DevCephCluster, *, image_pool: str, copies: bool = False,
           volumes: bool = True) -> str:
    """Stores and volume backends on ``cluster``; ``copies``: every clone is a full copy.

    A pool belongs to one deployment (its recovery removes objects it has no record of, as
    Cinder's ``rbd_exclusive_cinder_pool``): the HTTP server gets its own image pool and no
    volume backend.
    """
    conf = cluster.conf_path
    body = (
        f'default_backend = "ceph"\n'
        f'[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "{image_pool}"\n'
        f'rbd_store_ceph_conf = "{conf}"\n'
        f'[stores.file]\ntype = "file"\nfilesystem_store_datadir = "{work / "images"}"\n')
    if volumes:
        depth = "rbd_max_clone_depth = 0\n" if copies else ""
        body = (f'default_volume_type = "ceph"\n{body}'
                f'[volume_backends.ceph]\ntype = "rbd"\nrbd_pool = "volumes"\n'
                f'rbd_ceph_conf = "{conf}"\n{depth}'
                f'[volume_backends.local]\ntype = "file"\nvolumes_dir = "{work / "volumes"}"\n')
    return body


def open_bench(work: Path, cluster: DevCephCluster, copies: bool = False) -> Services:
    work.mkdir(parents=True, exist_ok=True)
    (work / "cowshed.toml").write_text(config(work, cluster, image_pool=BENCH_IMAGES,
                                              copies=copies))
    return open_services(load_settings(data_dir=work, environ={}))


def timed_create(svc: Services, **kwargs: object) -> tuple[float, Volume]:
    """Seconds from the create call to ``available``, and the volume."""
    started = time.perf_counter()
    volume = wait(svc, svc.volumes.create(CALLER, **kwargs))  # type: ignore[arg-type]
    return time.perf_counter() - started, volume


def drop(svc: Services, volume: Volume) -> None:
    svc.volumes.delete(CALLER, volume.id)
    svc.volumes.rt.wait_local(volume.id, 600)


def wait(svc: Services, volume: Volume) -> Volume:
    done = svc.volumes.wait_volume(volume.id, timeout=3600)
    if done.status != "available":
        raise RuntimeError(f"volume {done.id} ended {done.status}")
    return done


def fill(svc: Services, volume: Volume) -> None:
    """Write every byte of the volume (as a guest would), through the backend. A qcow2 file is
    synced afterwards: otherwise the first clones' fsyncs wait for the writeback of the fill
    (gigabytes of dirty pages), which is the fill's cost, not the clone's."""
    store = svc.volumes.rt.store(volume.volume_type)
    if store.disk_format == "qcow2":
        path = store.backend.local_path(volume.backend_key)
        commands = [arg for offset in range(0, volume.size * GiB, GiB // 2)
                    for arg in ("-c", f"write -P 0xab {offset} {GiB // 2}")]
        subprocess.run(["qemu-io", "-f", "qcow2", *commands, str(path)], check=True,
                       capture_output=True)
        os.sync()
        return
    block = os.urandom(8 * MiB)
    with store.backend.open_block(volume.backend_key) as handle:
        for offset in range(0, volume.size * GiB, len(block)):
            handle.write(offset, block)


def clone_times(svc: Services, source: Volume, runs: int, reuse: bool) -> list[float]:
    vols = svc.volumes
    out = []
    for _ in range(runs):
        if not reuse:  # attached once: the next clone needs a new snapshot
            vols.reserve(CALLER, source.id)
            vols.unreserve(CALLER, source.id)
        seconds, clone = timed_create(svc, size=None, source_volid=source.id)
        out.append(seconds)
        drop(svc, clone)
    return out


def bench_clones(svc: Services, vtype: str, big: int, runs: int) -> None:
    fresh: dict[int, list[float]] = {}
    for size in (1, big):
        _, source = timed_create(svc, size=size, volume_type=vtype)
        fill(svc, source)
        fresh[size] = clone_times(svc, source, runs, reuse=False)
        if size == 1:
            clone_times(svc, source, 1, reuse=False)  # leaves a reusable clone snapshot
            reused = clone_times(svc, source, runs, reuse=True)
        drop(svc, source)
    small, large = statistics.median(fresh[1]), statistics.median(fresh[big])
    ratio = large / small
    print(f"clone  {vtype:6} 1 GiB {small * 1000:7.1f} ms   {big} GiB {large * 1000:7.1f} ms   "
          f"ratio {ratio:5.2f} (≤ {CLONE_RATIO_MAX}: {'ok' if ratio <= CLONE_RATIO_MAX else 'MISS'})")
    again = statistics.median(reused)
    runs = ", ".join(f"{t * 1000:.0f}" for t in reused)
    print(f"reuse  {vtype:6} new snapshot {small * 1000:7.1f} ms   reused {again * 1000:7.1f} ms"
          f"   (≤ {REUSE_MAX_S * 1000:.0f} ms: {'ok' if again <= REUSE_MAX_S else 'MISS'})"
          f"   [runs ms: {runs}]")


def upload_image(svc: Services, source: Path) -> str:
    ctx = svc.admin_context()
    image = svc.images.create(ctx, {"name": "bench", "disk_format": "raw",
                                    "container_format": "bare", "visibility": "public"})

    async def chunks() -> AsyncIterator[bytes]:
        with open(source, "rb", buffering=0) as fh:
            while block := fh.read(8 * MiB):
                yield block

    asyncio.run(svc.data.upload(ctx, image.id, chunks(), source.stat().st_size, "ceph"))
    return image.id


def rbd_tool(cluster: DevCephCluster, *args: str) -> None:
    subprocess.run(["rbd", "-c", str(cluster.conf_path), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_from_image(svc: Services, cluster: DevCephCluster, image_id: str, size: int,
                     runs: int) -> None:
    ours, copy = [], Side("rbd cp")
    gib = max(1, -(-size // GiB))
    target = "volumes/bench-copy"
    for _ in range(runs):
        seconds, volume = timed_create(svc, size=gib, image_id=image_id, volume_type="ceph")
        ours.append(seconds)
        copy.run(functools.partial(rbd_tool, cluster, "cp", "--no-progress",
                                   f"{BENCH_IMAGES}/{image_id}@snap", target), children=True)
        rbd_tool(cluster, "rm", "--no-progress", target)
        drop(svc, volume)
    mine, theirs = statistics.median(ours), statistics.median(copy.seconds)
    print(f"image  create-from-image (clone) {mine * 1000:7.1f} ms   full copy (rbd cp) "
          f"{theirs * 1000:7.1f} ms   {theirs / mine:5.1f} times faster")


def export(cluster: DevCephCluster, spec: str) -> None:
    rbd_tool(cluster, "export", "--no-progress", spec, "-")


def bench_reads(svc: Services, cluster: DevCephCluster, work: Path, source: Path,
                runs: int) -> None:
    size = source.stat().st_size
    vols = svc.volumes
    sides = {name: Side(name) for name in ("download", "upload", "copy", "export", "hashes",
                                           "rbd cp")}
    volume = wait(svc, vols.create(CALLER, size=max(1, size // GiB), volume_type="ceph"))
    store = vols.rt.store("ceph")
    with open(source, "rb", buffering=0) as fh, store.backend.open_block(volume.backend_key) \
            as block:
        offset = 0
        while chunk := fh.read(8 * MiB):
            block.write(offset, chunk)
            offset += len(chunk)
    serve = work / "serve"
    serve.mkdir(parents=True, exist_ok=True)
    conf = serve / "serve.toml"
    conf.write_text(config(serve, cluster, image_pool="images", volumes=False))
    data = source.read_bytes()
    with cowshed_serve(serve, conf) as (base, _pid):
        served = http_image(base, source)
        for run in range(runs):
            steps: list[tuple[str, Callable[[], object]]] = [
                ("export", lambda: export(cluster, f"images/{served}@snap")),
                ("download", lambda: download(base, served)),
                ("upload", lambda: upload_volume(svc, volume)),
                ("copy", lambda: copy_volume(svc, volume)),
                ("hashes", functools.partial(hash_both, data)),
                ("rbd cp", lambda: rbd_copy(cluster, f"volumes/{volume.backend_key}")),
            ]
            for name, step in (steps if run % 2 == 0 else steps[::-1]):
                sides[name].run(step, children=name in ("export", "rbd cp"))
    report_reads(sides, size)


def report_reads(sides: dict[str, Side], size: int) -> None:
    def rate(name: str) -> float:
        return size / MiB / statistics.median(sides[name].seconds)

    ref = rate("export")
    print(f"read   ceilings: rbd export {ref:.0f} MiB/s, hashes {rate('hashes'):.0f} MiB/s, "
          f"rbd cp {rate('rbd cp'):.0f} MiB/s")
    for name, label, other in (("download", "image download over HTTP", None),
                               ("upload", "upload-to-image (hashed)", "hashes"),
                               ("copy", "full volume copy", "rbd cp")):
        mine = rate(name)
        verdict = "ok" if mine / ref >= READ_TARGET else "MISS"
        extra = "" if other is None else f"; to {other} {mine / rate(other):4.2f}"
        runs = ", ".join(f"{size / MiB / s:.0f}" for s in sides[name].seconds)
        print(f"read   {label:26} {mine:6.0f} MiB/s   to rbd export {mine / ref:5.2f} "
              f"(≥ {READ_TARGET}: {verdict}){extra}   [runs MiB/s: {runs}]")


def hash_both(data: bytes) -> None:
    """md5 and sha512 of ``data`` (already in memory), one thread each, as an upload does."""
    view = memoryview(data)

    def run(name: str) -> None:
        digest = hashlib.new(name)
        for at in range(0, len(view), 8 * MiB):
            digest.update(view[at:at + 8 * MiB])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(run, ("md5", "sha512")))


def rbd_copy(cluster: DevCephCluster, spec: str) -> None:
    rbd_tool(cluster, "cp", "--no-progress", spec, "volumes/bench-rbd-cp")
    rbd_tool(cluster, "rm", "--no-progress", "volumes/bench-rbd-cp")


def http_image(base: str, source: Path) -> str:
    made = subprocess.run(
        ["curl", "-sS", "-f", "-X", "POST", "-H", "Content-Type: application/json", "-d",
         json.dumps({"name": "bench", "disk_format": "raw", "container_format": "bare"}),
         f"{base}/v2/images"], check=True, capture_output=True, text=True)
    image_id = str(json.loads(made.stdout)["id"])
    subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-H",
                    "Content-Type: application/octet-stream", "-H", "X-Image-Meta-Store: ceph",
                    "-T", str(source), f"{base}/v2/images/{image_id}/file"], check=True)
    return image_id


def download(base: str, image_id: str) -> None:
    subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", f"{base}/v2/images/{image_id}/file"],
                   check=True)


def upload_volume(svc: Services, volume: Volume) -> None:
    vols = svc.volumes
    made = vols.upload_to_image(CALLER, volume.id, image_name="bench-up", disk_format="raw")
    vols.wait_volume(volume.id, timeout=3600)
    image = svc.images.get(svc.admin_context(), made.image_id)
    if image.status != "active":
        raise RuntimeError(f"upload-to-image ended {image.status}")
    svc.images.delete(svc.admin_context(), made.image_id)


def copy_volume(svc: Services, volume: Volume) -> None:
    _, copy = timed_create(svc, size=None, source_volid=volume.id)
    drop(svc, copy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-gib", type=int, default=8)
    parser.add_argument("--read-mib", type=int, default=1024)
    parser.add_argument("--sections", default="clone,image,read",
                        help="comma-separated: clone, image, read")
    parser.add_argument("--clone-types", default="ceph,local",
                        help="volume types of the clone section: ceph (RBD), local (qcow2 files)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    with tempfile.TemporaryDirectory(prefix="cowshed-bench-volumes-") as tmp:
        work = Path(tmp)
        source = work / "random.img"
        with open(source, "wb") as handle:
            for _ in range(0, args.read_mib * MiB, 64 * MiB):
                handle.write(os.urandom(64 * MiB))
        big = args.big_gib if "clone" in sections else 0
        memstore = (big + 4) * GiB + 6 * args.read_mib * MiB
        cluster = DevCephCluster(work / "ceph", memstore_bytes=memstore)
        cluster.up()
        cluster.create_pool(BENCH_IMAGES)
        svc = open_bench(work / "data", cluster)
        try:
            print(f"{args.runs} runs; big volume {args.big_gib} GiB; reads of "
                  f"{args.read_mib} MiB", flush=True)
            if "clone" in sections:
                for vtype in args.clone_types.split(","):
                    bench_clones(svc, vtype, args.big_gib, args.runs)
            if "image" in sections:
                image_id = upload_image(svc, source)
                bench_from_image(svc, cluster, image_id, source.stat().st_size, args.runs)
            svc.close()
            if "read" in sections:  # where clones are full copies (rbd_max_clone_depth = 0)
                svc = open_bench(work / "copies", cluster, copies=True)
                bench_reads(svc, cluster, work, source, args.runs)
        finally:
            svc.close()
            cluster.down()


if __name__ == "__main__":
    main()
