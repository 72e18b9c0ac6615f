"""A real Keystone (from PyPI) on loopback, with SQLite and fernet tokens, for tests.

``Keystone.start(venv, workdir)`` writes a keystone.conf, runs ``keystone-manage db_sync``,
``fernet_setup``, ``credential_setup`` and ``bootstrap`` (user ``admin`` in project ``admin``,
roles admin/member/reader, region ``RegionOne``), then serves the WSGI app with waitress on a
free port. It also makes a ``service`` project with a ``cowshed`` user (roles admin and
service) for a server that validates tokens. ``register(type, name, url)`` adds a catalog
service with public/internal/admin endpoints. ``stop()`` ends the process it started.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests._openstack.venv import OpenStackVenv

ADMIN_PASSWORD = "keystone-admin-secret"
SERVICE_PASSWORD = "cowshed-service-secret"
REGION = "RegionOne"
_SERVE = Path(__file__).with_name("keystone_wsgi.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _conf(workdir: Path) -> str:
    return f"""[DEFAULT]
log_file = {workdir}/keystone.log
[database]
# a writer waits up to 30 s for another's commit (pysqlite's default is 5 s)
connection = sqlite:///{workdir}/keystone.db?timeout=30
[identity]
# bcrypt's fewest rounds: every token costs a hash, and Tempest asks for hundreds
password_hash_rounds = 4
[token]
provider = fernet
expiration = 7200
[fernet_tokens]
key_repository = {workdir}/fernet-keys
[fernet_receipts]
key_repository = {workdir}/fernet-keys
[credential]
key_repository = {workdir}/credential-keys
[oslo_policy]
enforce_new_defaults = true
enforce_scope = false
"""


@dataclass
class Keystone:
    """One running Keystone; ``url`` is its ``/v3`` endpoint."""

    venv: OpenStackVenv
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    @property
    def config(self) -> Path:
        return self.workdir / "keystone.conf"

    @classmethod
    def start(cls, venv: OpenStackVenv, workdir: Path) -> Keystone:
        ks = cls(venv, workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        ks.config.write_text(_conf(workdir))
        ks._manage("db_sync")
        ks._manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
        ks._manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
        ks._manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                   "--bootstrap-region-id", REGION,
                   *[a for kind in ("admin", "public", "internal")
                     for a in (f"--bootstrap-{kind}-url", ks.url)])
        # WAL (kept in the file): readers never wait for a writer, so waitress's threads
        # do not trip over SQLite's "database is locked"
        with contextlib.closing(sqlite3.connect(workdir / "keystone.db")) as db:
            db.execute("PRAGMA journal_mode=WAL")
        ks._serve()
        ks._service_user()
        return ks

    def _manage(self, *args: str) -> None:
        cmd = [self.venv.bin("keystone-manage"), "--config-file", str(self.config), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"keystone-manage {args[0]} failed:\n{done.stdout}{done.stderr}")

    def _serve(self, timeout: float = 60.0) -> None:
        log = (self.workdir / "wsgi.log").open("ab")
        self.proc = subprocess.Popen(
            [self.venv.python, "-I", str(_SERVE), str(self.config), str(self.port)],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keystone exited ({self.proc.returncode}); see "
                                   f"{self.workdir / 'wsgi.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"keystone did not answer within {timeout}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    # --- the admin REST calls the tests need -------------------------------------------------

    def token(self) -> str:
        """A project-scoped admin token (cached; tokens live two hours)."""
        if self._token is None:
            self._token = self.issue_token("admin", ADMIN_PASSWORD, "admin")
        return self._token

    def issue_token(self, user: str, password: str, project: str) -> str:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        resp = httpx.post(self.url + "/auth/tokens", json=body, timeout=30)
        resp.raise_for_status()
        return resp.headers["X-Subject-Token"]

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = httpx.request(method, self.url + path, json=body, timeout=30,
                             headers={"X-Auth-Token": self.token()})
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def find(self, kind: str, name: str) -> str:
        """The id of the project, user or role called ``name``."""
        found = self.api("GET", f"/{kind}s?name={name}")[f"{kind}s"]
        assert found, f"no {kind} named {name}"
        return str(found[0]["id"])

    def register(self, service_type: str, name: str, url: str) -> None:
        """A catalog service with the same URL as public, internal and admin endpoint."""
        service = self.api("POST", "/services", {"service": {
            "type": service_type, "name": name, "enabled": True}})["service"]
        for interface in ("public", "internal", "admin"):
            self.api("POST", "/endpoints", {"endpoint": {
                "service_id": service["id"], "interface": interface, "url": url,
                "region_id": REGION, "enabled": True}})

    def _service_user(self) -> None:
        project = self.api("POST", "/projects", {"project": {
            "name": "service", "domain_id": "default"}})["project"]["id"]
        user = self.api("POST", "/users", {"user": {
            "name": "cowshed", "password": SERVICE_PASSWORD, "domain_id": "default",
            "default_project_id": project}})["user"]["id"]
        # bootstrap makes the roles admin, manager, member, reader and service
        for role in (self.find("role", "admin"), self.find("role", "service")):
            self.api("PUT", f"/projects/{project}/users/{user}/roles/{role}")
