"""HTTP/0.9 (a request line without a version) never gets a 200: such a client cannot tell
headers from body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._server import Server, raw_exchange, running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("versions") / "data") as srv:
        yield srv


@pytest.mark.parametrize("line", ["GET /versions", "GET /versions HTTP/0.9",
                                  "GET /v2/images HTTP/0.9", "GET /nowhere HTTP/0.9"])
def test_http_09_is_refused(server: Server, line: str) -> None:
    resp = raw_exchange(server.port, [(line + "\r\n\r\n").encode()])
    assert resp.status == 400, resp.head[:300]
    assert b"HTTP version 0.9 is not supported" in resp.body


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_http_1x_is_served(server: Server, version: str, tmp_path: Path) -> None:
    resp = raw_exchange(server.port, [f"GET /versions HTTP/{version}\r\nHost: x\r\n"
                                      "Connection: close\r\n\r\n".encode()])
    assert resp.status == 200, resp.head[:300]
