"""A real ``cowshed serve`` process for the fault tests: start, SIGKILL, restart, raw sockets."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

COWSHED = Path(sys.executable).with_name("cowshed")
#: what the server logs when a handler raised something outside the error tree (a 500).
UNEXPECTED = ("unexpected error", "Exception in ASGI application", "Traceback")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``cowshed serve`` on ``data_dir``; restartable on the same directory and port."""

    data_dir: Path
    config: Path | None = None
    port: int = field(default_factory=free_port)
    #: more ``cowshed serve`` options, e.g. ("--workers", "2")
    args: tuple[str, ...] = ()
    #: the log file's name stem (several servers may share one data dir)
    name: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    starts: int = 0

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"{self.name or self.data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        assert self.proc is None, "already running"
        cmd = [str(COWSHED), "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "info"]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        cmd += list(self.args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("COWSHED_")}
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/versions", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, like a power cut for the process."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""

    def unexpected_errors(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if any(m in line for m in UNEXPECTED)]

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    # -- state on disk, read without the server ---------------------------------------------

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "images"

    def part_files(self, store_dir: Path | None = None) -> list[Path]:
        root = (store_dir or self.store_dir) / ".incoming"
        return sorted(root.glob("*.part")) if root.is_dir() else []

    def committed_files(self, store_dir: Path | None = None) -> list[Path]:
        root = store_dir or self.store_dir
        return sorted(p for p in root.iterdir() if p.is_file()) if root.is_dir() else []

    def db_status(self, image_id: str) -> str | None:
        """The status column as the database holds it (read-only; works while killed)."""
        db = sqlite3.connect(f"file:{self.data_dir / 'cowshed.db'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT status FROM images WHERE id = ?", (image_id,)).fetchone()
        finally:
            db.close()
        return None if row is None else str(row[0])


@contextlib.contextmanager
def running(data_dir: Path, config: Path | None = None) -> Iterator[Server]:
    server = Server(data_dir, config)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def create_image(client: httpx.Client, **body: Any) -> str:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    resp = client.post("/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    image_id: str = resp.json()["id"]
    return image_id


def random_raw(size: int) -> bytes:
    """``size`` random bytes that are a raw disk to the inspector: a zero first sector, since one
    upload in 65,536 of plain random bytes ends in 55 AA at offset 510 — an MBR signature whose
    partition entries then fail the safety checks, as they would in Glance (415)."""
    return bytes(min(size, 512)) + os.urandom(max(0, size - 512))


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def upload_ok(client: httpx.Client, image_id: str, data: bytes) -> None:
    resp = client.put(f"/v2/images/{image_id}/file", content=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    record = client.get(f"/v2/images/{image_id}").json()
    assert record["status"] == "active"
    assert record["size"] == len(data)
    assert record["checksum"] == md5(data)
    assert record["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert client.get(f"/v2/images/{image_id}/file").content == data


@dataclass
class RawResponse:
    status: int | None
    #: the raw response: status line, headers and (when its length is known) the body.
    head: bytes
    error: str | None = None

    @property
    def body(self) -> bytes:
        return self.head.partition(b"\r\n\r\n")[2]


def _complete(raw: bytes) -> bool:
    """True once the header block and a Content-Length body (if announced) are in."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return True


def parse_status(head: bytes) -> int | None:
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def raw_exchange(port: int, payload: Iterable[bytes], *, read_timeout: float = 3.0,
                 close_write: bool = False, pause: float = 0.0) -> RawResponse:
    """Send ``payload`` pieces on a fresh connection, read what comes back.

    Sending runs in a thread so an early answer (413 while the body is still going) is read
    even if the server stops reading; send errors are expected then and ignored.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    sent_all = threading.Event()

    def send() -> None:
        try:
            for piece in payload:
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sent_all.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    head = b""
    error = None
    try:
        while not _complete(head) and len(head) < 1 << 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            head += chunk
    except TimeoutError:
        error = "timeout"
    except OSError as exc:
        error = type(exc).__name__
    finally:
        with contextlib.suppress(OSError):
            sock.close()
        sender.join(timeout=5)
    return RawResponse(parse_status(head), head, error)
