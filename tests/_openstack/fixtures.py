"""pytest fixtures over the harness: import the ones you need into a conftest.py.

``openstack_venv`` (the cached venv), ``keystone`` (a running Keystone, session-wide),
``cowshed_cloud`` (a ``cowshed serve`` registered in that Keystone as ``image``, ``volumev3``
and ``block-storage``) and ``tempest_workspace`` (a Tempest workspace pointed at both).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests._openstack.keystone import Keystone
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


@pytest.fixture(scope="session")
def cowshed_cloud(keystone: Keystone,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[CowshedCloud]:
    server = Server(tmp_path_factory.mktemp("cloud") / "data")
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
                      tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.create(openstack_venv, tmp_path_factory.mktemp("tempest"),
                            cowshed_cloud.keystone)
