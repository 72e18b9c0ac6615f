"""pytest fixtures over the harness: import the ones you need into a conftest.py.

``openstack_venv`` (the cached venv), ``keystone`` (a running Keystone, session-wide),
``image_mirror`` (a small qcow2 on a loopback HTTP server, standing in for Tempest's internet
image URLs), ``cowshed_cloud`` (a ``cowshed serve`` registered in that Keystone as ``image``,
``volumev3`` and ``block-storage``, allowed to web-download from the mirror) and
``tempest_workspace`` (a Tempest workspace pointed at all of them).
"""

from __future__ import annotations

import functools
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests._openstack.keystone import SERVICE_PASSWORD, Keystone
from tests._openstack.tempest import Workspace
from tests._openstack.venv import OpenStackVenv, ensure_venv
from tests.integration._server import Server

#: Set-up times of this session (venv, Keystone start), printed by the tests that use them.
TIMINGS: dict[str, float] = {}


@dataclass(frozen=True)
class CowshedCloud:
    """A cowshed server and the Keystone whose catalog points at it."""

    keystone: Keystone
    server: Server

    @property
    def image_url(self) -> str:
        return self.server.url

    @property
    def volume_url(self) -> str:
        return self.server.url + "/volume/v3/%(project_id)s"


@pytest.fixture(scope="session")
def openstack_venv() -> OpenStackVenv:
    venv = ensure_venv()
    TIMINGS["venv"] = venv.seconds
    return venv


@pytest.fixture(scope="session")
def keystone(openstack_venv: OpenStackVenv,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    started = time.monotonic()
    ks = Keystone.start(openstack_venv, tmp_path_factory.mktemp("keystone"))
    TIMINGS["keystone"] = time.monotonic() - started
    try:
        yield ks
    finally:
        ks.stop()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def image_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a 64 MiB (virtual) qcow2 served on loopback."""
    root = tmp_path_factory.mktemp("mirror")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root / "disk.qcow2"), "64M"],
                   check=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/disk.qcow2"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def cowshed_cloud(keystone: Keystone, image_mirror: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[CowshedCloud]:
    root = tmp_path_factory.mktemp("cloud")
    # a deployer's web-download filter that lets the mirror in (loopback is refused otherwise),
    # and Keystone's tokens validated as Glance does (a service user), so Tempest's members and
    # RBAC tests meet real projects and roles
    config = root / "cowshed.toml"
    config.write_text(
        f'allowed_hosts = ["127.0.0.1"]\nallowed_ports = [{urlsplit(image_mirror).port}]\n'
        # tokens are validated by the harness Keystone, as Glance's keystonemiddleware does
        'auth_strategy = "keystone"\n[keystone_authtoken]\n'
        f'auth_url = "{keystone.url}"\nwww_authenticate_uri = "{keystone.url}"\n'
        'auth_type = "password"\nusername = "cowshed"\n'
        f'password = "{SERVICE_PASSWORD}"\nproject_name = "service"\n'
        'user_domain_name = "Default"\nproject_domain_name = "Default"\n')
    server = Server(root / "data", config=config)
    server.start()
    cloud = CowshedCloud(keystone, server)
    keystone.register("image", "glance", cloud.image_url)
    for kind, name in (("volumev3", "cinderv3"), ("block-storage", "cinder")):
        keystone.register(kind, name, cloud.volume_url)
    try:
        yield cloud
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tempest_workspace(openstack_venv: OpenStackVenv, cowshed_cloud: CowshedCloud,
                      image_mirror: str, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.create(openstack_venv, tmp_path_factory.mktemp("tempest"),
                            cowshed_cloud.keystone, image_url=image_mirror)
