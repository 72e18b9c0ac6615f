"""Load generation for ``bench/load.py``: an async HTTP driver, latency figures, server CPU.

Kept apart from the scenarios so that the driver can be read (and trusted) on its own: every
timed request is one ``httpx.AsyncClient`` call on a pool of keep-alive connections, at most
``concurrency`` in flight; latency is wall time from send to the last byte of the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

_OCTETS = {"Content-Type": "application/octet-stream"}
#: builds the i-th request of a run: (method, path, JSON body, bytes, or None).
RequestFactory = Callable[[int], tuple[str, str, object]]


@dataclass(frozen=True)
class Figures:
    """One timed run: requests per second, latency percentiles, server CPU per request."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    #: CPU ms per request of the PostgreSQL server (its postmaster and backends); 0 on SQLite.
    db_cpu_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; samples need not be sorted."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children (the ``--workers`` processes)
    plus what its waited-for children used."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        this, parent = int(stat.parent.name), int(fields[1])
        if this == pid:
            total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        elif parent == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def drive(url: str, pid: int, make: RequestFactory, count: int, concurrency: int,
                expect: int | tuple[int, ...] = 200, db_pid: int | None = None) -> Figures:
    """Send ``count`` requests built by ``make`` with ``concurrency`` in flight; any answer not
    in ``expect`` is an error (a benchmark of failures measures nothing)."""
    wanted = (expect,) if isinstance(expect, int) else expect
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        next_index = iter(range(count))

        async def worker() -> None:
            for i in next_index:
                method, path, body = make(i)
                started = time.perf_counter()
                if isinstance(body, bytes):
                    resp = await client.request(method, path, content=body, headers=_OCTETS)
                else:
                    resp = await client.request(method, path, json=body)
                await resp.aread()
                latencies.append(time.perf_counter() - started)
                if resp.status_code not in wanted:
                    raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")

        cpu = tree_cpu_seconds(pid)
        db_cpu = tree_cpu_seconds(db_pid) if db_pid else 0.0
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        used = tree_cpu_seconds(pid) - cpu
        db_used = tree_cpu_seconds(db_pid) - db_cpu if db_pid else 0.0
    return Figures(requests=count, seconds=wall, p50_ms=percentile(latencies, 0.5) * 1000,
                   p99_ms=percentile(latencies, 0.99) * 1000, cpu_ms=used * 1000 / count,
                   db_cpu_ms=db_used * 1000 / count)


def median_figures(runs: Sequence[Figures]) -> Figures:
    """The run with the median rate (its own percentiles, not a mix of runs)."""
    ordered = sorted(runs, key=lambda f: f.rate)
    mid = ordered[len(ordered) // 2]
    return Figures(requests=mid.requests, seconds=mid.seconds, p50_ms=mid.p50_ms,
                   p99_ms=mid.p99_ms, cpu_ms=statistics.median(f.cpu_ms for f in runs),
                   db_cpu_ms=statistics.median(f.db_cpu_ms for f in runs))


def free_port() -> int:
    """A loopback port nothing listens on now (for a server the bench starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: str) -> None:
    """Wait up to 120 s for ``cowshed serve`` at ``url`` to answer ``/versions``; fail at once
    if it exits first (its output is in ``log``)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cowshed serve exited ({proc.returncode}); see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/versions", timeout=2).status_code in (200, 300):
                return
        time.sleep(0.2)
    raise RuntimeError(f"cowshed serve did not answer; see {log}")
