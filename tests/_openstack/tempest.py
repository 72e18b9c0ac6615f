"""Run OpenStack's Tempest (from PyPI) against a cowshed registered in a test Keystone.

``Workspace.create(venv, workdir, keystone, cinder=…)`` writes ``etc/tempest.conf`` (dynamic
credentials made by Keystone's admin, image and volume sections) and ``.stestr.conf``;
``workspace.run(regex)`` runs ``tempest run`` on the tests matching ``regex`` and returns a
``Results`` (one status per test id; ``by_class()`` counts them per test class). The full
output is kept in ``workdir/tempest-run.log`` and Tempest's own log in ``workdir/logs``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests._openstack.keystone import ADMIN_PASSWORD, REGION, Keystone
from tests._openstack.venv import OpenStackVenv

#: ``setUpClass (tempest.api.x.Class)`` is how a class whose set-up failed is reported.
_CLASS_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((?P<cls>[\w.]+)\)$")


def tempest_conf(ws: Path, keystone: Keystone, *, cinder: bool, image_url: str | None = None,
                 extra: str = "") -> str:
    """``image_url``: a qcow2 image on a local HTTP server, for the web-download tests (Tempest's
    default is on the internet, which a test machine need not reach)."""
    mirror = f"http_image = {image_url}\nhttp_qcow2_image = {image_url}\n" if image_url else ""
    return f"""[DEFAULT]
log_dir = {ws}/logs
log_file = tempest.log
use_stderr = false
[oslo_concurrency]
lock_path = {ws}/locks
[auth]
use_dynamic_credentials = true
admin_username = admin
admin_password = {ADMIN_PASSWORD}
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default
create_isolated_networks = false
[identity]
uri_v3 = {keystone.url}
auth_version = v3
region = {REGION}
[identity-feature-enabled]
api_v2 = false
[service_available]
glance = true
cinder = {str(cinder).lower()}
nova = false
neutron = false
swift = false
horizon = false
[image]
build_timeout = 120
{mirror}[volume]
catalog_type = volumev3
build_timeout = 120
{extra}"""


@dataclass(frozen=True)
class Results:
    """One status (``success``, ``fail``, ``skip``…) per test id; class fixtures included."""

    statuses: dict[str, str]

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)

    @property
    def passed(self) -> int:
        return self.count("success")

    @property
    def failed(self) -> list[str]:
        return sorted(t for t, s in self.statuses.items() if s in ("fail", "failure", "uxsuccess"))

    @property
    def skipped(self) -> int:
        return self.count("skip")

    def by_class(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for test, status in self.statuses.items():
            out.setdefault(test_class(test), Counter())[status] += 1
        return out


def test_class(test_id: str) -> str:
    fixture = _CLASS_FIXTURE.match(test_id)
    if fixture:
        return fixture.group("cls")
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


@dataclass(frozen=True)
class Workspace:
    venv: OpenStackVenv
    path: Path

    @classmethod
    def create(cls, venv: OpenStackVenv, path: Path, keystone: Keystone, *,
               cinder: bool = False, image_url: str | None = None,
               extra: str = "") -> Workspace:
        for sub in ("etc", "logs", "locks"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        (path / "etc" / "tempest.conf").write_text(tempest_conf(
            path, keystone, cinder=cinder, image_url=image_url, extra=extra))
        site = next((venv.path / "lib").glob("python3*/site-packages"))
        (path / ".stestr.conf").write_text(
            f"[DEFAULT]\ntest_path={site}/tempest/test_discover\ntop_dir={site}\n"
            # tests of one class run in one worker, as Tempest's own .stestr.conf says
            "group_regex=([^\\.]*\\.)*\n")
        return cls(venv, path)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "VIRTUAL_ENV", "PYTHON"))}
        env["TEMPEST_CONFIG_DIR"] = str(self.path / "etc")
        env["PATH"] = f"{self.venv.path / 'bin'}:{env.get('PATH', '')}"
        return env

    def run(self, regex: str, concurrency: int = 2, timeout: float = 1800) -> Results:
        """Run the tests matching ``regex``; a failing test is a result, not an exception."""
        with (self.path / "tempest-run.log").open("ab") as log:
            subprocess.run(
                [self.venv.bin("tempest"), "run", "--regex", regex,
                 "--concurrency", str(concurrency)],
                cwd=self.path, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                timeout=timeout, check=False)
        return self.last_results()

    def last_results(self) -> Results:
        stream = subprocess.run([self.venv.bin("stestr"), "last", "--subunit"], cwd=self.path,
                                env=self._env(), capture_output=True, timeout=120, check=True)
        # subunit2csv exits 1 when the stream holds a failure: that is a result, not an error
        table = subprocess.run([self.venv.bin("subunit2csv")], input=stream.stdout,
                               capture_output=True, timeout=120, check=False)
        if not table.stdout.startswith(b"test,status"):
            raise RuntimeError(f"subunit2csv: {table.stderr.decode(errors='replace')}")
        rows = csv.DictReader(io.StringIO(table.stdout.decode()))
        return Results({row["test"]: row["status"] for row in rows})
