"""The HTTP layer under hostile clients (red-team findings), over raw sockets.

Request heads past 64 KiB are answered 431 (or at least the connection closes) on both uvicorn
protocols cowshed can run, httptools (what ``cowshed serve`` uses) and h11; an unfinished head
can no longer grow the server's memory; a JSON body over 1 MiB is refused from its
Content-Length alone, without waiting for it.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from cowshed.api.app import create_app
from cowshed.api.http_protocols import MAX_HEAD_BYTES, LimitedH11Protocol, LimitedHttpToolsProtocol
from cowshed.config import Settings
from tests.integration._server import RawResponse, raw_exchange, running

KiB = 1024
MiB = 1 << 20


class _InThread:
    """uvicorn serving the app on a free loopback port from a thread."""

    def __init__(self, settings: Settings, protocol: type) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        loop = "uvloop" if protocol is LimitedHttpToolsProtocol else "asyncio"
        config = uvicorn.Config(create_app(settings), http=protocol, loop=loop,
                                log_level="warning", h11_max_incomplete_event_size=MAX_HEAD_BYTES)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> _InThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture(scope="module", params=["httptools", "h11"])
def port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[int]:
    protocol = LimitedHttpToolsProtocol if request.param == "httptools" else LimitedH11Protocol
    settings = Settings(data_dir=tmp_path_factory.mktemp(f"http-{request.param}"))
    with _InThread(settings, protocol) as server:
        yield server.port


def _get(target: str = "/versions", headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _refused(resp: RawResponse) -> bool:
    """431, or (only if the server could not even answer) a closed connection."""
    return resp.status == 431 or (resp.status is None and resp.error != "timeout")


@pytest.mark.parametrize("request_bytes", [
    pytest.param(lambda: _get(headers=[("X-Big", "v" * (70 * KiB))]), id="one-70KiB-value"),
    pytest.param(lambda: _get(headers=[(f"X-H{i}", "v" * 400) for i in range(200)]),
                 id="200-headers-80KiB"),
    pytest.param(lambda: _get(f"/v2/images?name={'n' * (70 * KiB)}"), id="70KiB-url"),
])
def test_a_head_over_64_kib_gets_431(port: int, request_bytes: object) -> None:
    data = request_bytes()  # type: ignore[operator]
    resp = raw_exchange(port, [data[i : i + 16 * KiB] for i in range(0, len(data), 16 * KiB)],
                        read_timeout=30)
    assert resp.status == 431, resp
    assert b"64" in resp.body or b"65536" in resp.body


def test_a_16_mib_header_value_is_cut_off_early(port: int) -> None:
    head = _get(headers=[("X-Huge", "v" * (16 * MiB))])
    pieces = (head[i : i + 64 * KiB] for i in range(0, len(head), 64 * KiB))
    resp = raw_exchange(port, pieces, read_timeout=30)
    assert _refused(resp), resp


def test_an_unfinished_head_is_answered_not_kept(port: int) -> None:
    """1 MiB of header bytes that never end: the server answers (431) and closes, instead of
    buffering until the client gives up."""
    start = b"GET /versions HTTP/1.1\r\nHost: x\r\nX-Endless: "
    pieces = [start] + [b"v" * (64 * KiB)] * 16
    resp = raw_exchange(port, pieces, read_timeout=30)
    assert _refused(resp), resp


def test_a_trickled_head_is_cut_at_the_limit(port: int) -> None:
    start = b"GET /versions HTTP/1.1\r\nHost: x\r\n"
    pieces = [start] + [b"X-T%05d: " % i + b"v" * 1000 + b"\r\n" for i in range(80)]
    resp = raw_exchange(port, pieces, read_timeout=30, pause=0.005)
    assert _refused(resp), resp


def test_a_head_under_the_limit_is_served(port: int) -> None:
    resp = raw_exchange(port, [_get(headers=[("X-Fine", "v" * (60 * KiB))])], read_timeout=30)
    assert resp.status == 200, resp


def test_a_json_body_announced_over_1_mib_is_413_without_waiting_for_it(port: int) -> None:
    head = (b"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2097152\r\n\r\n")
    started = time.monotonic()
    resp = raw_exchange(port, [head, b"{"], read_timeout=20)
    assert resp.status == 413, resp
    assert time.monotonic() - started < 15


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match[1]) * KiB


def test_unfinished_heads_do_not_grow_the_real_server(tmp_path: Path) -> None:
    """The red-team case on ``cowshed serve`` itself: four connections sending 16 MiB of a
    header that never ends grew it by 256 MiB; now each gets 431 at 64 KiB."""
    with running(tmp_path / "data") as server:
        assert server.proc is not None
        with server.client() as client:  # warm up: lazy imports and first allocations
            assert client.get("/versions").status_code == 200
        before = _rss(server.proc.pid)
        chunk = b"v" * (64 * KiB)
        start = b"GET /versions HTTP/1.1\r\nHost: x\r\nX-Endless: "
        results: list[RawResponse] = []

        def one() -> None:
            results.append(raw_exchange(server.port, [start] + [chunk] * 256, read_timeout=30))

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        grown = _rss(server.proc.pid) - before
        assert all(_refused(r) for r in results), results
        assert [r.status for r in results] == [431] * 4
        assert grown < 32 * MiB, f"the server grew by {grown >> 20} MiB"
        with server.client() as client:
            assert client.get("/versions").status_code == 200
