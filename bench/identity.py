"""What authentication costs per request: ``standalone`` beside ``noauth``, in the same run.

    .venv/bin/python bench/identity.py [--requests 400] [--runs 3] [--work-dir DIR]

Starts two ``cowshed serve`` processes on temporary data dirs — one ``noauth`` (the ceiling: no
token work at all), one ``standalone`` — and times the same keep-alive ``GET /v2/images/{id}``
loop against each (runs alternate, so drift hits both). With ``standalone`` every request
carries a Fernet token that is opened, checked against the revocation table, and whose user,
project and roles are read from the database. Reports requests/s (median of ``--runs``), the
ratio standalone / noauth against its target, the server CPU milliseconds per request, and how
long a password login (scrypt) takes.
"""

from __future__ import annotations

import argparse
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import free_port, wait_ready

COWSHED = Path(sys.executable).with_name("cowshed")
TARGET = 0.5  # standalone keeps at least half the noauth request rate
PASSWORD = "bench-admin-password"


@contextmanager
def serve(root: Path, strategy: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COWSHED_")}
    env["COWSHED_ADMIN_PASSWORD"] = PASSWORD
    log = (root / f"{strategy}.log").open("wb")
    proc = subprocess.Popen(
        [str(COWSHED), "serve", "--data-dir", str(root / strategy), "--port", str(port),
         "--auth-strategy", strategy, "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log.name)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def login(url: str) -> tuple[str, float]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    started = time.perf_counter()
    resp = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=60)
    resp.raise_for_status()
    return resp.headers["x-subject-token"], time.perf_counter() - started


def loop(url: str, pid: int, headers: dict[str, str], image_id: str, n: int) -> tuple[float, float]:
    """(requests per second, server CPU ms per request) for ``n`` GETs on one connection."""
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        client.get(f"/v2/images/{image_id}").raise_for_status()  # warm the connection
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        for _ in range(n):
            if client.get(f"/v2/images/{image_id}").status_code != 200:
                raise RuntimeError("request refused")
        wall = time.perf_counter() - started
        return n / wall, (cpu_seconds(pid) - cpu) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cowshed-bench-identity-", dir=args.work_dir))
    try:
        with serve(root, "noauth") as (plain, plain_pid), \
                serve(root, "standalone") as (auth, auth_pid):
            token, login_s = login(auth)
            headers = {"X-Auth-Token": token}
            ids = {}
            for url, hdrs in ((plain, {}), (auth, headers)):
                resp = httpx.post(url + "/v2/images", headers=hdrs, timeout=60,
                                  json={"name": "bench", "disk_format": "raw",
                                        "container_format": "bare"})
                resp.raise_for_status()
                ids[url] = resp.json()["id"]
            rates: dict[str, list[tuple[float, float]]] = {"noauth": [], "standalone": []}
            for _ in range(args.runs):
                rates["noauth"].append(loop(plain, plain_pid, {}, ids[plain], args.requests))
                rates["standalone"].append(loop(auth, auth_pid, headers, ids[auth],
                                                args.requests))
        med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
               for k, v in rates.items()}
        ratio = med["standalone"][0] / med["noauth"][0]
        for name, (rate, cpu) in med.items():
            print(f"{name:>10}: {rate:8.0f} GET/s  {cpu:6.2f} ms server CPU per request")
        verdict = "ok" if ratio >= TARGET else "BELOW TARGET"
        print(f"     ratio: {ratio:.2f} standalone/noauth (target >= {TARGET}) {verdict}")
        print(f"     login: {login_s * 1000:.0f} ms for one password login (scrypt)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
