"""Why an upload was refused reaches the user of every client, not just "415".

openstacksdk sends ``Accept:`` empty on uploads and drops a text/plain error body, so the
openstack CLI used to print a bare "415 Unsupported Media Type"; the server answers such a
request in webob's HTML form, which the SDK and glanceclient reduce to the reason.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import openstack
import pytest

from tests.clients.helpers import LiveServer, run_cli, tool

pytestmark = pytest.mark.clients

#: what the server says about raw bytes declared as qcow2.
REASON = "data declared qcow2 is raw"


@pytest.fixture
def raw_file(tmp_path: Path) -> Path:
    path = tmp_path / "not-qcow2.img"
    path.write_bytes(os.urandom(1 << 20))
    return path


def test_openstacksdk_exception_carries_the_reason(live_server: LiveServer,
                                                   raw_file: Path) -> None:
    conn = openstack.connect(auth_type="none", image_endpoint_override=live_server.url)
    name = f"refused-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(openstack.exceptions.HttpException) as caught:
            conn.image.create_image(name=name, disk_format="qcow2", container_format="bare",
                                    filename=str(raw_file))
        assert caught.value.status_code == 415
        assert REASON in str(caught.value)
    finally:
        for image in conn.image.images(name=name):
            conn.image.delete_image(image)


def test_openstack_cli_prints_the_reason(live_server: LiveServer, raw_file: Path) -> None:
    done = run_cli([tool("openstack"), "--os-auth-type", "none", "--os-endpoint",
                    live_server.url, "image", "create", "--disk-format", "qcow2",
                    "--file", str(raw_file), f"refused-{uuid.uuid4().hex[:8]}"], ok=False)
    assert done.returncode != 0
    assert REASON in done.stderr, done.stderr


def test_glance_cli_prints_the_reason(live_server: LiveServer, raw_file: Path) -> None:
    done = run_cli([tool("glance"), "--os-image-url", live_server.url, "--os-auth-token", "x",
                    "image-create", "--name", "refused", "--disk-format", "qcow2",
                    "--container-format", "bare", "--file", str(raw_file)], ok=False)
    assert done.returncode != 0
    assert REASON in done.stderr, done.stderr
