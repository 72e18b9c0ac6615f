"""Fixtures of the node tests: one real image service (``cowshed serve``) per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration._server import Server


@pytest.fixture(scope="session")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("image-service") / "data")
    server.start(timeout=120)  # generous: the machine may be loaded
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def glance(image_server: Server) -> Iterator[httpx.Client]:
    with image_server.client() as client:
        yield client


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """A node's directory, readable by libvirt's qemu user (0755 on the node's own dirs)."""
    path = tmp_path / "node"
    path.mkdir(mode=0o755)
    return path
