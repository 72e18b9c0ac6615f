"""The README's and docs/cli.md's commands, run as written.

Every fenced ``sh`` (and the README's ``python``) block is either run — in document order, in
one scratch directory holding the files the examples name (``cirros.img``, ``disk.raw``) — or
listed in ``ILLUSTRATIVE`` with the reason it cannot run here. A block that is neither fails the
test, so nothing is skipped silently, and a stale ``ILLUSTRATIVE`` entry fails too.

What is changed before running, and nothing else: ``127.0.0.1:9292`` becomes the address of
the server this test starts (9292 may be taken on a shared machine). ``cowshed`` commands run on
a scratch data dir (``COWSHED_DATA_DIR``); README blocks that talk to a server use the started
one, on its own data dir.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration._server import Server

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUN_LANGS = ("sh", "python")

#: (file, first line of the block) → why the block is not run here.
ILLUSTRATIVE: dict[tuple[str, str], str] = {
    ("README.md", "./run serve --host 127.0.0.1 --port 9292"):
        "the set-up itself: this test runs that server (as `cowshed serve`), and `./run test` "
        "is the suite this test belongs to",
    ("README.md", ".venv/bin/python -m pytest tests/unit tests/api -q"):
        "runs the test suite and a benchmark: not from inside the suite",
    ("docs/cli.md", "cowshed serve --data-dir /var/lib/cowshed --host 0.0.0.0"):
        "a production server on every address, in /var/lib: this test starts its own",
    ("docs/cli.md", "cowshed node --config node.toml spawn vm1 --image 0b5d…"):
        "placeholder image id (0b5d…) and a hypervisor's node.toml",
    ("docs/cli.md", "cowshed node --config node.toml snapshot vm1 --name vm1-snap"):
        "needs the instance vm1 of the block before and, for --live, a libvirt domain",
    ("docs/cli.md", "cowshed volume create data --size 10"):
        "placeholder image id (7d1e…) in its second command",
}


@dataclass(frozen=True)
class Block:
    doc: str
    lang: str
    text: str

    @property
    def key(self) -> tuple[str, str]:
        first = self.text.strip().splitlines()[0]
        for (doc, start) in ILLUSTRATIVE:
            if doc == self.doc and first.startswith(start):
                return (doc, start)
        return (self.doc, first)


def blocks(doc: str) -> list[Block]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return [Block(doc, m[1], m[2]) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)
            if m[1] in RUN_LANGS]


def runnable(doc: str) -> list[Block]:
    return [b for b in blocks(doc) if b.key not in ILLUSTRATIVE]


def test_every_illustrative_entry_names_a_block_that_exists() -> None:
    keys = {b.key for doc in ("README.md", "docs/cli.md") for b in blocks(doc)}
    assert sorted(set(ILLUSTRATIVE) - keys) == []


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the examples run in, with the files they name."""
    root = tmp_path_factory.mktemp("docs-commands")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root / "cirros.img"), "64M"],
                   check=True)
    (root / "disk.raw").write_bytes(os.urandom(1 << 20))
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("docs-server") / "data")
    srv.start(timeout=120)
    try:
        yield srv
    finally:
        srv.kill()


def run_block(block: Block, cwd: Path, server: Server) -> None:
    text = block.text.replace("127.0.0.1:9292", f"127.0.0.1:{server.port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COWSHED_", "OS_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COWSHED_DATA_DIR"] = str(cwd / "cowshed-data")
    argv = ["bash", "-euo", "pipefail", "-c", text] if block.lang == "sh" \
        else [sys.executable, "-c", text]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, (f"{block.doc}: block failed ({done.returncode}):\n{text}\n"
                                  f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_the_commands_run_as_written(doc: str, scratch: Path, server: Server) -> None:
    found = runnable(doc)
    assert found, f"{doc} has no runnable block: the test would prove nothing"
    for block in found:
        run_block(block, scratch, server)
    assert server.unexpected_errors() == []
