"""Image upload/download throughput of ``cowshed serve``, beside this machine's own ceilings.

    .venv/bin/python bench/images.py [--size-mib 1024] [--runs 3] [--work-dir DIR]

Starts ``cowshed serve`` on a temporary data dir and two bare reference servers
(``bench/_refserve.py``), then times the *same* curl commands against each:

* upload: ``curl -T FILE -H 'Expect:' -H 'Content-Type: application/octet-stream'`` (PUT);
  the ceiling reads the body, hashes md5 and sha512 in two threads, writes and fsyncs a file.
* download: ``curl -o /dev/null``; the ceiling is ``os.sendfile`` of the same bytes.

Runs alternate (ceiling, cowshed, ceiling, …) so drift hits both; the median of ``--runs`` is
reported as MiB/s with ratio = cowshed / ceiling, beside each server's CPU seconds per GiB (a
steadier figure than wall time on a shared machine). It also reports cowshed's RSS before, at
its peak during (VmHWM, reset before each) and after a 256 MiB and a full-size upload: memory
must not grow with image size.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
MIB = 1 << 20
TARGETS = {"upload": 0.85, "download": 0.85}
CURL_UP = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
           "-H", "Expect:", "-H", "Content-Type: application/octet-stream", "-T"]
CURL_DOWN = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"]




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_random_file(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, 16 * MIB)
            fh.write(os.urandom(n))
            left -= n


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} after {timeout}s")


@contextlib.contextmanager
def process(argv: list[str], ready_url: str | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv``; wait for ``ready_url`` (or a ``ready`` line); always stop it."""
    with contextlib.ExitStack() as stack:
        out: IO[bytes] | int = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        stdout = subprocess.PIPE if ready_url is None else out
        proc = stack.enter_context(subprocess.Popen(argv, stdout=stdout, stderr=out))
        try:
            if ready_url is None:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if line.strip() != b"ready":
                    raise RuntimeError(f"{argv[:3]} did not start: {line!r}")
            else:
                _wait_http(ready_url, proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    """Per-run MiB/s and the server's CPU seconds per GiB moved."""

    rates: list[float]
    cpu: list[float]

    def add(self, rate: float, cpu: float) -> None:
        self.rates.append(rate)
        self.cpu.append(cpu)


@dataclass(frozen=True)
class Row:
    what: str
    cowshed: Sample
    ceiling: Sample

    @property
    def cowshed_rate(self) -> float:
        return statistics.median(self.cowshed.rates)

    @property
    def ceiling_rate(self) -> float:
        return statistics.median(self.ceiling.rates)

    @property
    def ratio(self) -> float:
        return self.cowshed_rate / self.ceiling_rate


def curl(argv: list[str], size: int, server_pid: int, into: Sample) -> None:
    """Run one curl command; record MiB/s (curl's own total time) and server CPU per GiB."""
    before = cpu_seconds(server_pid)
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    used = cpu_seconds(server_pid) - before
    code, seconds = done.stdout.split()
    if not code.startswith("2"):
        raise RuntimeError(f"{argv[-1]} answered {code}")
    into.add(size / MIB / float(seconds), used * (1 << 30) / size)


def api(method: str, url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


class Cowshed:
    def __init__(self, base: str, pid: int) -> None:
        self.base = base
        self.pid = pid

    def new_image(self, name: str) -> str:
        image = api("POST", f"{self.base}/v2/images",
                    {"name": name, "disk_format": "raw", "container_format": "bare"})
        return str(image["id"])

    def upload(self, path: Path, name: str, into: Sample) -> str:
        image_id = self.new_image(name)
        curl([*CURL_UP, str(path), f"{self.base}/v2/images/{image_id}/file"],
             path.stat().st_size, self.pid, into)
        return image_id

    def delete(self, image_id: str) -> None:
        api("DELETE", f"{self.base}/v2/images/{image_id}")

    def memory(self) -> dict[str, int]:
        """VmHWM (peak since start or the last reset) and VmRSS, in MiB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) // 1024
        return out

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False if not possible."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def upload_memory(self, path: Path) -> dict[str, int]:
        """RSS before, peak during and RSS after one upload of ``path``, in MiB."""
        reset = self.reset_peak()
        before = self.memory()["VmRSS"]
        self.delete(self.upload(path, f"rss-{path.stat().st_size >> 20}", Sample([], [])))
        after = self.memory()
        return {"before": before, "peak": after["VmHWM"], "after": after["VmRSS"],
                "peak_is_per_upload": int(reset)}


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(8 * MIB):
            h.update(block)
    return h.hexdigest()


def cowshed_argv() -> list[str]:
    script = Path(sys.executable).parent / "cowshed"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cowshed.cli.main import main; main()"]


@dataclass(frozen=True)
class Servers:
    cowshed: Cowshed
    upload_url: str
    upload_pid: int
    sendfile_url: str
    sendfile_pid: int


def measure(srv: Servers, data: Path, runs: int) -> list[Row]:
    """Alternate ceiling and cowshed runs."""
    size = data.stat().st_size
    up_ref, up_cow, down_ref, down_cow = (Sample([], []) for _ in range(4))
    kept = ""
    for i in range(runs):
        curl([*CURL_UP, str(data), srv.upload_url], size, srv.upload_pid, up_ref)
        api("DELETE", srv.upload_url)
        image_id = srv.cowshed.upload(data, f"bench-{i}", up_cow)
        if kept:
            srv.cowshed.delete(image_id)
        else:
            kept = image_id
        print(f"  upload run {i + 1}: ceiling {up_ref.rates[-1]:.0f} MiB/s, "
              f"cowshed {up_cow.rates[-1]:.0f} MiB/s", flush=True)
    image = api("GET", f"{srv.cowshed.base}/v2/images/{kept}")
    if image["checksum"] != md5_of(data):
        raise RuntimeError(f"cowshed stored checksum {image['checksum']}, not the file's md5")
    cow_url = f"{srv.cowshed.base}/v2/images/{kept}/file"
    for i in range(runs):
        curl([*CURL_DOWN, srv.sendfile_url], size, srv.sendfile_pid, down_ref)
        curl([*CURL_DOWN, cow_url], size, srv.cowshed.pid, down_cow)
        print(f"  download run {i + 1}: ceiling {down_ref.rates[-1]:.0f} MiB/s, "
              f"cowshed {down_cow.rates[-1]:.0f} MiB/s", flush=True)
    return [Row("upload", up_cow, up_ref), Row("download", down_cow, down_ref)]


def run(size_mib: int, runs: int, work: Path) -> None:
    data = work / "image.bin"
    small = work / "image-256.bin"
    print(f"generating {size_mib} MiB and 256 MiB of random data in {work} …", flush=True)
    make_random_file(data, size_mib * MIB)
    make_random_file(small, 256 * MIB)
    (work / "ref").mkdir()
    port, up_port, down_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [*cowshed_argv(), "serve", "--data-dir", str(work / "cowshed"),
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    ref = [sys.executable, str(HERE / "_refserve.py")]
    with (process(serve, f"{base}/versions", work / "cowshed.log") as server,
          process([*ref, "upload", str(up_port), str(work / "ref")]) as up,
          process([*ref, "sendfile", str(down_port), str(data)]) as down):
        cow = Cowshed(base, server.pid)
        memory = {"256 MiB": cow.upload_memory(small),
                  f"{size_mib} MiB": cow.upload_memory(data)}
        srv = Servers(cow, f"http://127.0.0.1:{up_port}/", up.pid,
                      f"http://127.0.0.1:{down_port}/", down.pid)
        rows = measure(srv, data, runs)
    report(rows, memory, size_mib, runs)


def report(rows: list[Row], memory: dict[str, dict[str, int]], size_mib: int, runs: int) -> None:
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print()
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
          f"Python {platform.python_version()}")
    print(f"date: {datetime.date.today()}; image {size_mib} MiB random; median of {runs} runs")
    print()
    print("| path     | cowshed MiB/s | ceiling MiB/s | ratio | target     "
          "| cowshed CPU s/GiB | ceiling CPU s/GiB |")
    print("|----------|--------------:|--------------:|------:|------------"
          "|------------------:|------------------:|")
    for row in rows:
        target = TARGETS[row.what]
        verdict = f"≥{target:.2f} " + ("ok" if row.ratio >= target else "MISS")
        print(f"| {row.what:<8} | {row.cowshed_rate:>13.0f} | {row.ceiling_rate:>13.0f} | "
              f"{row.ratio:>5.2f} | {verdict:<10} | "
              f"{statistics.median(row.cowshed.cpu):>17.2f} | "
              f"{statistics.median(row.ceiling.cpu):>17.2f} |")
    print()
    print("| cowshed RSS, one upload of | before MiB | peak during MiB | after MiB |")
    print("|----------------------------|-----------:|----------------:|----------:|")
    for size, mem in memory.items():
        peak = f"{mem['peak']}" + ("" if mem["peak_is_per_upload"] else " (since start)")
        print(f"| {size:<26} | {mem['before']:>10} | {peak:>15} | {mem['after']:>9} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where to put the data (default: a new temporary directory)")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed")
    work = Path(tempfile.mkdtemp(prefix="cowshed-bench-", dir=args.work_dir))
    try:
        run(args.size_mib, args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
