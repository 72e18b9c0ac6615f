"""Shared helpers of the client tests: payload digests, CLI lookup, table parsing."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
MiB = 1 << 20


@dataclass(frozen=True)
class LiveServer:
    """A running ``cowshed serve``: its root URL and where it keeps its files."""

    url: str
    data_dir: Path
    pid: int

    @property
    def image_url(self) -> str:
        """The endpoint under the ``/image`` prefix (the devstack-style catalog entry)."""
        return self.url + "/image"

    def stored_file(self, image_id: str) -> Path:
        """Where the default file store keeps an image's bytes."""
        return self.data_dir / "images" / image_id


@dataclass(frozen=True)
class Payload:
    """A file to upload and the digests of its bytes."""

    path: Path
    size: int
    md5: str
    sha512: str


@dataclass(frozen=True)
class Digests:
    size: int
    md5: str
    sha512: str


def digest_chunks(chunks: Iterable[bytes]) -> Digests:
    """Size, md5 and sha512 of a stream of chunks, computed here (not by the client)."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    size = 0
    for chunk in chunks:
        size += len(chunk)
        md5.update(chunk)
        sha.update(chunk)
    return Digests(size=size, md5=md5.hexdigest(), sha512=sha.hexdigest())


def digest_file(path: Path) -> Digests:
    def blocks() -> Iterable[bytes]:
        with path.open("rb") as fh:
            while block := fh.read(8 * MiB):
                yield block

    return digest_chunks(blocks())


def make_payload(path: Path) -> Payload:
    d = digest_file(path)
    return Payload(path=path, size=d.size, md5=d.md5, sha512=d.sha512)


def assert_same_bytes(got: Digests, payload: Payload) -> None:
    assert (got.size, got.md5, got.sha512) == (payload.size, payload.md5, payload.sha512)


def client_env() -> dict[str, str]:
    """The environment for client subprocesses: no inherited OS_* or COWSHED_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "COWSHED_"))}


def tool(name: str) -> str:
    """Path of a CLI installed next to the test interpreter (skips the test if missing)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def run_cli(argv: list[str], *, ok: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client CLI; with ``ok`` a non-zero exit fails the test with its output."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env=env if env is not None else client_env())
    if ok and done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}\n"
                    f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


def parse_table(text: str) -> dict[str, str]:
    """A prettytable "Property | Value" table as a dict; wrapped values are joined."""
    table: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells == ["Property", "Value"]:
            continue
        name, value = cells
        if name:
            key = name
            table[key] = value
        elif key:
            table[key] += value
    return table
