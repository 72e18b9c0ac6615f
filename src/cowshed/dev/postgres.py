"""A throwaway PostgreSQL cluster for tests, benchmarks and demos.

``initdb`` in a directory of its own, ``pg_ctl start`` on a free TCP port of 127.0.0.1 (and a unix
socket in the same directory), trust authentication, durability switched off (the data is
scratch). PostgreSQL refuses to run as root: when we are root, every server command runs as the
``postgres`` system user (Debian's package creates it) through ``runuser``, and the directory
is handed to that user (so its parent must be one that user can enter, e.g. under /tmp). The
binaries come from ``PATH`` or Debian's ``/usr/lib/postgresql/<version>/bin``.

Usage::

    with DevPostgres(Path(tempfile.mkdtemp())) as pg:
        engine = sqlalchemy.create_engine(pg.url)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from cowshed.dev.ceph_conf import free_port
from cowshed.errors import ExternalToolError

__all__ = ["DevPostgres", "find_binary"]

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: settings for a scratch cluster: nothing survives a crash, and nothing needs to.
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "max_locks_per_transaction": "256",
    # The data sits in the page cache or on an SSD: PostgreSQL's default (4, for spinning disks)
    # prices an index probe so high that at 10,000 images a tag filter read every image row
    # (1.9 ms) instead of 100 index probes (0.34 ms); docs/performance.md, "Image lists".
    "random_page_cost": "1.1",
}


def find_binary(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``), newest version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(_DEBIAN_ROOT.glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not candidates:
        raise ExternalToolError(f"PostgreSQL's {name} is not installed "
                                "(apt-get install postgresql)")
    return str(candidates[-1])


class DevPostgres:
    """One scratch cluster in ``directory``; :attr:`url` is its SQLAlchemy URL."""

    def __init__(self, directory: Path, *, port: int | None = None,
                 start_timeout: float = 60.0) -> None:
        self.directory = Path(directory).absolute()
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.port = port
        self.start_timeout = start_timeout
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        if self.port is None:
            raise ExternalToolError("the dev PostgreSQL cluster is not running")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> DevPostgres:
        self.up()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def up(self) -> None:
        """initdb (once) and start the server; returns when it accepts connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run([find_binary("initdb"), "-D", str(self.data), "-U", "postgres",
                       "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        self.port = self.port or free_port()
        options = " ".join(f"-c {k}={v}" for k, v in _SERVER_SETTINGS.items())
        self._run([find_binary("pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log_path),
                   "-w", "-t", str(int(self.start_timeout)),
                   "-o", f"-p {self.port} -k {self.directory} {options}"])
        self._wait_ready()

    def down(self) -> None:
        """Stop the server (immediate: the data is scratch) and remove its files."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ExternalToolError):
                self._run([find_binary("pg_ctl"), "stop", "-D", str(self.data), "-m",
                           "immediate", "-w"])
        shutil.rmtree(self.data, ignore_errors=True)

    def _wait_ready(self) -> None:
        import psycopg  # the optional [postgres] extra; needed only once a cluster runs

        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                dbname="postgres", connect_timeout=5).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ExternalToolError(f"PostgreSQL did not accept connections: {exc}") from exc
                time.sleep(0.1)

    def _run(self, argv: list[str]) -> None:
        if self._user is not None:
            argv = ["runuser", "-u", self._user, "--", *argv]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False,
                              cwd=self.directory, timeout=self.start_timeout + 30)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).decode(errors="replace")[-2000:]
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            program = Path(argv[4] if self._user is not None else argv[0]).name
            raise ExternalToolError(f"{program} failed ({proc.returncode}): {output}\n{log}")
