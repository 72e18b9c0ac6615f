"""The CLI starts without what it does not run: which modules a command imports, not how long.

Wall time flakes on a loaded machine; the set of imported modules does not. Each case runs a
fresh interpreter (``sys.modules`` of this test process has everything), runs one command the
way the ``cowshed`` script does, and writes the names in ``sys.modules`` afterwards to a file.
``bench/cli.py`` measures the resulting times.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cowshed.cli.main import COMMANDS, main

#: runs ``cowshed`` with each later argument (words separated by ';'), then writes
#: sorted(sys.modules) as JSON to argv[1].
_PROBE = """
import json, sys
from cowshed.cli.main import main
out, commands = sys.argv[1], sys.argv[2:]
for command in commands:  # several commands (';'-separated words) in one interpreter
    try:
        main(command.split(";"), prog_name="cowshed")
    except SystemExit:
        pass
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
"""
#: what no listing, help or HTTP command may load: the server stack, the database, the
#: library's services, the metrics and crypto libraries, the image inspector.
HEAVY = ("sqlalchemy", "alembic", "uvicorn", "starlette", "prometheus_client", "cryptography",
         "oslo_utils", "yaml", "rich", "cowshed.services", "cowshed.db", "cowshed.api",
         "cowshed.backends", "cowshed.formats")


def _loaded(tmp_path: Path, *argv: str, more: tuple[tuple[str, ...], ...] = ()) -> set[str]:
    """The modules loaded by ``cowshed *argv`` (then each of ``more``) in a fresh interpreter."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COWSHED_", "OS_"))}
    commands = [";".join(c) for c in (argv, *more)]
    subprocess.run([sys.executable, "-c", _PROBE, str(out), *commands], env=env, cwd=tmp_path,
                   capture_output=True, check=True, timeout=120)
    return set(json.loads(out.read_text()))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _closed_port() -> int:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_help_and_group_help_import_no_command_module(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "--help")
    assert _heavy(loaded) == []
    assert not [m for m in loaded if m.startswith("cowshed.cli.") and m not in {
        "cowshed.cli.main", "cowshed.cli.common"}]
    assert "httpx" not in loaded


def test_the_help_of_every_group_loads_no_library(tmp_path: Path) -> None:
    """``cowshed GROUP --help`` imports that group's module, not what its commands use."""
    groups = [(name, "--help") for name in sorted(COMMANDS) if name != "serve"]
    loaded = _loaded(tmp_path, *groups[0], more=tuple(groups[1:]))
    assert {"cowshed.cli.volumes", "cowshed.cli.identity", "cowshed.cli.node"} <= loaded
    assert _heavy(loaded) == [] and "httpx" not in loaded


def test_http_list_loads_no_library(tmp_path: Path) -> None:
    # a refused connection ends the command after the HTTP door has been opened and used
    loaded = _loaded(tmp_path, "image", "--os-image-url", f"http://127.0.0.1:{_closed_port()}",
                     "list")
    assert "cowshed.cli.image_http" in loaded and "httpx" in loaded
    # httpx itself imports rich (for its own command line) whenever rich is installed
    assert [m for m in _heavy(loaded) if m.split(".")[0] != "rich"] == []


def test_library_list_loads_the_database_and_no_server_stack(tmp_path: Path) -> None:
    argv = ("image", "list", "--data-dir", str(tmp_path / "data"))
    # the database is created here (migrated by Alembic: tests/unit/db/test_migrations.py)
    assert CliRunner().invoke(main, list(argv)).exit_code == 0
    loaded = _loaded(tmp_path, *argv)  # one at the newest migration is only opened
    assert "sqlalchemy" in loaded and "rich" in loaded  # the library door ran, a table printed
    # the database and the table printer, nothing of the server, the metrics, the tokens or
    # the image inspector
    assert [m for m in loaded if m.split(".")[0] in {
        "uvicorn", "starlette", "alembic", "prometheus_client", "cryptography", "httpx",
        "httpcore", "oslo_utils", "yaml"} or m.startswith("cowshed.api")] == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    """``cowshed --help`` lists the declared short help without importing the command: it must
    say what the command's own docstring says (first paragraph)."""
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.help is not None
    own = " ".join(command.help.split("\n\n")[0].split())
    assert COMMANDS[name][1] == own
