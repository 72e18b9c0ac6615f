"""Image API under load: 10,000 images in one server, on SQLite and PostgreSQL, 1 or N workers.

    .venv/bin/python bench/load.py [--images 10000] [--databases sqlite,postgres]
        [--workers 1,4] [--concurrency 16] [--requests 400] [--runs 1] [--work-dir DIR]

For each database and worker count it starts ``cowshed serve --auth-strategy noauth`` on a fresh
data dir (PostgreSQL: a fresh database in one ``DevPostgres`` cluster the bench starts itself),
then, with an ``httpx.AsyncClient`` keeping ``--concurrency`` requests in flight:

* ceiling: ``GET /versions`` — no database, but the same uvicorn, middleware stack (request
  id, auth, metrics, access log) and worker processes: what an empty handler costs here;
* seed: ``POST /v2/images`` for every image (this is the create throughput), with names,
  visibilities, owners, tags and properties spread so each filter selects a known share; then
  an empty upload activates one image in ten (``status=active`` then selects 10 %);
* list: one row per query below, ``--requests`` requests each, markers drawn at random depth;
* show: ``GET /v2/images/{id}`` of random images; delete: ``DELETE`` of 10 % of the images.

It prints requests/s, p50 and p99 latency, the server's CPU milliseconds per request (all its
processes) and, on PostgreSQL, the database server's (postmaster and backends); and two ratios
to the ceiling (measured three times: before seeding, after seeding, at the end; the run with
the median rate counts): ``rate/ceil``, the operation's rate over the ceiling's, and ``CPU
ceil/op``, the ceiling's server CPU per request over the operation's: the share of the
empty-handler rate the operation reaches when the server's CPU is the limit (steadier than wall
time on a shared machine). ``--explain`` also prints the plan of every list query, run through
the repository on the seeded database. The client shares the machine with the server: on 2
cores it takes a good part of one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import Figures, drive, free_port, median_figures, wait_ready

COWSHED = Path(sys.executable).with_name("cowshed")
OWNERS = 50          # owner=project-07 selects 2 %
NAMES = 2000         # name=image-0042 selects 5 images of 10,000
RARE_TAGS = 100      # tag=t7 selects 1 %
DISTROS = ("ubuntu", "debian", "fedora", "centos", "rocky", "alma", "arch", "suse",
           "cirros", "windows")  # os_distro=debian selects 10 %
#: (label, query string); a ``{marker}`` is replaced by an id at random depth of that order.
LIST_QUERIES = (
    ("default (25, created_at desc)", ""),
    ("status=active", "status=active"),
    ("visibility=public", "visibility=public"),
    ("name=image-0042", "name=image-0042"),
    ("owner=project-07", "owner=project-07"),
    ("tag=t7", "tag=t7"),
    ("tag=common (50 %)", "tag=common"),
    ("os_distro=debian", "os_distro=debian"),
    ("build=<one image>", "build=4242"),
    ("sort=name:asc", "sort=name:asc"),
    ("sort=size:desc", "sort=size:desc"),
    ("marker, created_at desc", "marker={marker}"),
    ("marker, sort=name:asc", "sort=name:asc&marker={marker}"),
    ("limit=200", "limit=200"),
)


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    #: the PostgreSQL postmaster (None on SQLite, which runs inside the server's processes).
    db_pid: int | None = None


def seed_body(i: int) -> dict[str, object]:
    """The i-th image: every filter in LIST_QUERIES selects a share that depends only on i."""
    visibility = ("public", "community", "shared")[i % 20] if i % 20 < 3 else "private"
    tags = [f"t{i % RARE_TAGS}"] + (["common"] if i % 2 == 0 else [])
    return {"name": f"image-{i % NAMES:04d}", "disk_format": ("qcow2", "raw")[i % 2],
            "container_format": "bare", "visibility": visibility, "tags": tags,
            "owner": f"project-{i % OWNERS:02d}", "min_disk": i % 40,
            "os_distro": DISTROS[i % len(DISTROS)], "build": str(i)}


@contextlib.contextmanager
def serve(root: Path, label: str, workers: int, database_url: str,
          db_pid: int | None) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COWSHED_")}
    if database_url:
        env["COWSHED_DATABASE_URL"] = database_url
    argv = [str(COWSHED), "serve", "--data-dir", str(root / label), "--port", str(port),
            "--auth-strategy", "noauth", "--log-level", "warning"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    with (root / f"{label}.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc, log.name)
            yield Server(url, proc.pid, db_pid)
        finally:
            proc.terminate()
            proc.wait(60)


class Bench:
    """One configuration (database, workers): seed, then time every operation."""

    def __init__(self, server: Server, args: argparse.Namespace) -> None:
        self.server, self.args = server, args
        self.ids: list[str] = []
        self.rng = random.Random(42)

    async def timed(self, make: object, count: int, expect: int | tuple[int, ...] = 200,
                    runs: int | None = None) -> Figures:
        results = [await drive(self.server.url, self.server.pid, make,  # type: ignore[arg-type]
                               count, self.args.concurrency, expect, self.server.db_pid)
                   for _ in range(runs or self.args.runs)]
        return median_figures(results)

    async def ceiling(self) -> Figures:
        await drive(self.server.url, self.server.pid, lambda i: ("GET", "/versions", None),
                    self.args.concurrency * 4, self.args.concurrency, expect=(200, 300))  # warm
        return await self.timed(lambda i: ("GET", "/versions", None), self.args.requests,
                                expect=(200, 300))

    async def seed(self) -> tuple[Figures, Figures]:
        created: dict[int, str] = {}

        def create(i: int) -> tuple[str, str, object]:
            return "POST", "/v2/images", seed_body(i)

        figures = await self._collect(create, self.args.images, created)
        self.ids = [created[i] for i in sorted(created)]
        active = self.ids[::10]
        upload = await drive(self.server.url, self.server.pid,
                             lambda i: ("PUT", f"/v2/images/{active[i]}/file", b""),
                             len(active), self.args.concurrency, 204, self.server.db_pid)
        return figures, upload

    async def _collect(self, make: object, count: int, into: dict[int, str]) -> Figures:
        """drive() the creates, then read every id back by its ``build`` property."""
        figures = await drive(self.server.url, self.server.pid, make,  # type: ignore[arg-type]
                              count, self.args.concurrency, 201, self.server.db_pid)
        async with httpx.AsyncClient(base_url=self.server.url, timeout=120) as client:
            into.update(await _ids_by_build(client))
        return figures

    async def lists(self) -> dict[str, Figures]:
        orders = {"": await self._order(""), "sort=name:asc": await self._order("sort=name:asc")}
        out = {}
        for label, query in LIST_QUERIES:
            def make(i: int, query: str = query) -> tuple[str, str, object]:
                if "{marker}" in query:
                    base = query.replace("marker={marker}", "").rstrip("&")
                    marker = self.rng.choice(orders[base][:-25])
                    query = query.replace("{marker}", marker)
                return "GET", "/v2/images" + (f"?{query}" if query else ""), None
            out[label] = await self.timed(make, self.args.requests)
        return out

    async def _order(self, query: str) -> list[str]:
        """Every id in the order of ``query`` (pages of 1000 followed by marker)."""
        ids: list[str] = []
        path = "/v2/images?limit=1000" + (f"&{query}" if query else "")
        async with httpx.AsyncClient(base_url=self.server.url, timeout=120) as client:
            while path:
                body = (await client.get(path)).raise_for_status().json()
                ids += [image["id"] for image in body["images"]]
                path = body.get("next", "")
        return ids

    async def show_and_delete(self) -> tuple[Figures, Figures]:
        ids = list(self.ids)
        show = await self.timed(lambda i: ("GET", f"/v2/images/{self.rng.choice(ids)}", None),
                                self.args.requests)
        doomed = self.rng.sample(ids, len(ids) // 10)
        delete = await drive(self.server.url, self.server.pid,
                             lambda i: ("DELETE", f"/v2/images/{doomed[i]}", None),
                             len(doomed), self.args.concurrency, 204, self.server.db_pid)
        return show, delete


async def _ids_by_build(client: httpx.AsyncClient) -> dict[int, str]:
    found: dict[int, str] = {}
    path = "/v2/images?limit=1000"
    while path:
        body = (await client.get(path)).raise_for_status().json()
        found.update({int(image["build"]): image["id"] for image in body["images"]})
        path = body.get("next", "")
    return found


def report(title: str, ceiling: Figures, rows: list[tuple[str, Figures]]) -> None:
    print(f"\n## {title}")
    print(f"{'operation':<34} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7} "
          f"{'DB CPU':>7} {'rate/ceil':>9} {'CPU ceil/op':>11}")
    for label, f in [("ceiling: GET /versions", ceiling), *rows]:
        # a tiny run may use less CPU than the clock tick (10 ms) can show
        cpu = f"{ceiling.cpu_ms / f.cpu_ms:11.2f}" if f.cpu_ms and ceiling.cpu_ms else f"{'-':>11}"
        db = f"{f.db_cpu_ms:7.2f}" if f.db_cpu_ms else f"{'-':>7}"
        print(f"{label:<34} {f.rate:7.0f} {f.p50_ms:7.1f} {f.p99_ms:7.1f} {f.cpu_ms:7.2f} {db} "
              f"{f.rate / ceiling.rate:9.2f} {cpu}")


async def run_config(server: Server, args: argparse.Namespace, title: str) -> None:
    bench = Bench(server, args)
    ceilings = [await bench.ceiling()]
    created, uploaded = await bench.seed()
    ceilings.append(await bench.ceiling())
    lists = await bench.lists()
    show, delete = await bench.show_and_delete()
    ceilings.append(await bench.ceiling())
    rows = [(f"create (POST, {args.images} images)", created),
            (f"empty upload ({len(bench.ids[::10])})", uploaded),
            *((f"list {k}", v) for k, v in lists.items()),
            ("show (GET one image)", show), (f"delete ({len(bench.ids) // 10})", delete)]
    spread = ", ".join(f"{c.rate:.0f}" for c in ceilings)
    report(f"{title} (ceiling runs: {spread} req/s)", median_figures(ceilings), rows)


def database_urls(databases: list[str], stack: contextlib.ExitStack
                  ) -> dict[str, tuple[str, int | None]]:
    """(URL, server pid) per database kind: SQLite in each data dir (""), PostgreSQL in one
    cluster."""
    urls: dict[str, tuple[str, int | None]] = {"sqlite": ("", None)}
    if "postgres" in databases:
        from cowshed.dev.postgres import DevPostgres

        pg_dir = Path(tempfile.mkdtemp(prefix="cowshed-bench-pg-"))  # /tmp: see DevPostgres
        stack.callback(shutil.rmtree, pg_dir, ignore_errors=True)
        pg = stack.enter_context(DevPostgres(pg_dir))
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
        urls["postgres"] = (pg.url, postmaster)
    return urls


def fresh_database(url: str, name: str) -> str:
    """A new empty database ``name`` on the cluster of ``url``; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers and the PostgreSQL cluster are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    databases = args.databases.split(",")
    root = Path(tempfile.mkdtemp(prefix="cowshed-bench-load-", dir=args.work_dir))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        urls = database_urls(databases, stack)
        for db in databases:
            for workers in (int(w) for w in args.workers.split(",")):
                label = f"{db}-w{workers}"
                cluster, db_pid = urls[db]
                url = fresh_database(cluster, label.replace("-", "_")) if cluster else ""
                with serve(root, label, workers, url, db_pid) as server:
                    asyncio.run(run_config(server, args, f"{db}, {workers} worker(s)"))
                if args.explain:
                    from _explain import print_plans

                    print_plans(url or f"sqlite:///{root / label / 'cowshed.db'}",
                                [q for _, q in LIST_QUERIES])


if __name__ == "__main__":
    main()
