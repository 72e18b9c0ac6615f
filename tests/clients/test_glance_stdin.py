"""The README's advice on the glance CLI's stdin, checked: ``<&-`` sends no data (the image
stays queued); ``</dev/null`` uploads empty data (an active 0-byte image, as Glance does)."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from tests.clients.helpers import LiveServer, client_env, tool

pytestmark = pytest.mark.clients


def glance_create(server: LiveServer, name: str, redirect: str) -> dict[str, object]:
    argv = [tool("glance"), "--os-image-url", server.url, "--os-auth-token", "x",
            "image-create", "--name", name, "--disk-format", "raw", "--container-format",
            "bare"]
    done = subprocess.run(["bash", "-c", f"{shlex.join(argv)} {redirect} >/dev/null"],
                          capture_output=True, text=True, timeout=300, env=client_env(),
                          check=False)
    assert done.returncode == 0, done.stderr
    show = subprocess.run([tool("openstack"), "--os-auth-type", "none", "--os-endpoint",
                           server.url, "image", "show", name, "-f", "json"],
                          capture_output=True, text=True, timeout=300, env=client_env(),
                          check=True)
    record: dict[str, object] = json.loads(show.stdout)
    return record


def test_closed_stdin_creates_a_queued_image(live_server: LiveServer) -> None:
    record = glance_create(live_server, "stdin-closed", "<&-")
    assert (record["status"], record.get("size")) == ("queued", None)


def test_dev_null_uploads_an_empty_image(live_server: LiveServer) -> None:
    record = glance_create(live_server, "stdin-dev-null", "</dev/null")
    assert (record["status"], record.get("size")) == ("active", 0)
