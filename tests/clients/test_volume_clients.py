"""Real block-storage clients against a real ``cowshed serve``: python-cinderclient, the
``cinder`` CLI, ``openstack volume …`` and openstacksdk.

Each drives volumes through the public API only (create, list, show, snapshot, clone, extend,
revert, upload-to-image, attach/detach bookkeeping, delete) and checks what the server reports
afterwards, so a wire mismatch fails here the way it would for a user. The data path is checked
end to end: bytes uploaded as an image come back, through a volume made from it, a snapshot, a
volume from that snapshot, a clone and an upload to a new qcow2 image, identical
(``qemu-img compare``). The clients use their no-auth modes; the server's ``noauth`` acts for
its ``default_owner``. Waits poll the API directly (each CLI start costs seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.helpers import LiveServer, MiB, parse_table, run_cli, tool

pytestmark = pytest.mark.clients

PROJECT = "c0ffee00d00d4a11b0b5a0e0f0c0d0e0"
#: the project every request acts for: the server runs with ``auth_strategy = noauth``, whose
#: one caller is an admin of ``default_owner`` (whatever the URL or token names).
SERVER_PROJECT = "admin"
CONNECTOR = {"host": "compute-1", "ip": "127.0.0.1", "initiator": "iqn.1994-05.com.x:1",
             "multipath": False, "platform": "x86_64", "os_type": "linux"}


def _wait(get: Callable[[], Any], ready: str, timeout: float = 120.0) -> Any:
    """Poll ``get()`` until its ``status`` is ``ready``; fail on error or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        obj = get()
        status = obj["status"] if isinstance(obj, dict) else obj.status
        if status == ready:
            return obj
        assert "error" not in status, obj
        assert time.monotonic() < deadline, f"still {status} after {timeout}s: {obj}"
        time.sleep(0.1)


def _gone(get: Callable[[], Any], missing: type[BaseException], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get()
        except missing:
            return
        time.sleep(0.1)
    pytest.fail(f"still there after {timeout}s")


def _api(server: LiveServer, path: str) -> Any:
    """GET a volume API path (``volumes/ID``…) as JSON; None for a 404."""
    resp = httpx.get(f"{server.url}/volume/v3/{PROJECT}/{path}", timeout=30)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    return resp.json()


def _wait_api(server: LiveServer, kind: str, object_id: str, ready: str | None) -> None:
    """Wait until ``kinds/ID`` is ``ready`` (None: until it is gone)."""
    def get() -> Any:
        found = _api(server, f"{kind}s/{object_id}")
        if found is None:
            if ready is None:
                return {"status": "gone"}
            pytest.fail(f"{kind} {object_id} disappeared")
        return found[kind]
    _wait(get, ready or "gone")


@pytest.fixture(scope="module")
def cinder(live_server: LiveServer) -> Iterator[Any]:
    from cinderclient import client as cinder_client
    from cinderclient.contrib import noauth
    from keystoneauth1 import session

    auth = noauth.CinderNoAuthPlugin("tester", PROJECT, endpoint=live_server.url + "/volume/v3")
    yield cinder_client.Client("3.71", session=session.Session(auth=auth))


def _image(server: LiveServer, data: bytes) -> str:
    """An active raw image holding ``data``, made over the image API."""
    resp = httpx.post(server.url + "/v2/images", json={
        "name": "vc-source", "disk_format": "raw", "container_format": "bare"}, timeout=30)
    resp.raise_for_status()
    image_id: str = resp.json()["id"]
    httpx.put(f"{server.url}/v2/images/{image_id}/file", content=data, timeout=60,
              headers={"Content-Type": "application/octet-stream"}).raise_for_status()
    return image_id


def test_cinderclient_data_survives_image_volume_snapshot_clone_upload(
        cinder: Any, live_server: LiveServer, tmp_path: Path) -> None:
    from cinderclient import exceptions

    payload = os.urandom(MiB) + b"\0" * MiB + os.urandom(MiB)
    image_id = _image(live_server, payload)
    vol = cinder.volumes.create(1, name="cc-data", imageRef=image_id, metadata={"t": "gold"})
    vol = _wait(lambda: cinder.volumes.get(vol.id), "available")
    assert vol.bootable == "true" and vol.metadata == {"t": "gold"}
    assert vol.volume_image_metadata["image_id"] == image_id
    assert vol.volume_type == "file" and vol.multiattach is False and vol.size == 1
    assert getattr(vol, "os-vol-tenant-attr:tenant_id") == SERVER_PROJECT
    assert vol.id in [v.id for v in cinder.volumes.list()]

    snap = cinder.volume_snapshots.create(vol.id, name="cc-snap")
    snap = _wait(lambda: cinder.volume_snapshots.get(snap.id), "available")
    assert (snap.volume_id, snap.size) == (vol.id, 1)
    from_snap = cinder.volumes.create(2, snapshot_id=snap.id, name="cc-from-snap")
    from_snap = _wait(lambda: cinder.volumes.get(from_snap.id), "available")
    clone = cinder.volumes.create(None, source_volid=from_snap.id, name="cc-clone")
    clone = _wait(lambda: cinder.volumes.get(clone.id), "available")
    assert from_snap.snapshot_id == snap.id and clone.source_volid == from_snap.id
    assert clone.size == 2

    _resp, body = cinder.volumes.upload_to_image(clone, False, "cc-upload", "bare", "qcow2",
                                                 "private", False)
    uploaded = body["os-volume_upload_image"]
    assert uploaded["disk_format"] == "qcow2" and uploaded["visibility"] == "private"
    _wait(lambda: cinder.volumes.get(clone.id), "available")
    image = _wait(lambda: httpx.get(f"{live_server.url}/v2/images/{uploaded['image_id']}"
                                    ).json(), "active")
    assert image["virtual_size"] == 2 << 30
    got = tmp_path / "uploaded.qcow2"
    got.write_bytes(httpx.get(f"{live_server.url}/v2/images/{image['id']}/file",
                              timeout=120).content)
    (tmp_path / "payload.raw").write_bytes(payload)
    # equal where both have data; the rest of the 2 GiB volume must read as zeros
    compared = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(got),
                               str(tmp_path / "payload.raw")], capture_output=True, text=True)
    assert compared.returncode == 0, compared.stdout + compared.stderr

    # a volume with snapshots cannot go (Cinder's 400); in order, everything goes
    with pytest.raises(exceptions.BadRequest):
        cinder.volumes.delete(vol.id)
    for doomed in (clone, from_snap):
        cinder.volumes.delete(doomed.id)
    cinder.volume_snapshots.delete(snap.id)
    _gone(lambda: cinder.volume_snapshots.get(snap.id), exceptions.NotFound)
    cinder.volumes.delete(vol.id)
    for doomed in (vol, clone, from_snap):
        _gone(lambda d=doomed: cinder.volumes.get(d.id), exceptions.NotFound)


def test_cinderclient_extend_revert_and_errors(cinder: Any) -> None:
    from cinderclient import exceptions

    vol = cinder.volumes.create(1, name="cc-revert")
    _wait(lambda: cinder.volumes.get(vol.id), "available")
    snap = cinder.volume_snapshots.create(vol.id)
    snap = _wait(lambda: cinder.volume_snapshots.get(snap.id), "available")
    cinder.volumes.revert_to_snapshot(vol, snap)
    _wait(lambda: cinder.volumes.get(vol.id), "available")
    cinder.volumes.extend(vol.id, 3)
    assert _wait(lambda: cinder.volumes.get(vol.id), "available").size == 3
    # the snapshot is smaller now: no revert to it (Cinder's 400)
    with pytest.raises(exceptions.BadRequest):
        cinder.volumes.revert_to_snapshot(vol, snap)

    with pytest.raises(exceptions.NotFound):
        cinder.volumes.get(str(uuid.uuid4()))
    with pytest.raises(exceptions.BadRequest):
        cinder.volumes.extend(vol.id, 2)  # not bigger
    with pytest.raises(exceptions.BadRequest):
        cinder.volumes.create(0)
    cinder.volume_snapshots.delete(snap.id)
    _gone(lambda: cinder.volume_snapshots.get(snap.id), exceptions.NotFound)
    cinder.volumes.delete(vol.id)
    _gone(lambda: cinder.volumes.get(vol.id), exceptions.NotFound)


def test_cinderclient_attach_bookkeeping(cinder: Any) -> None:
    from cinderclient import exceptions

    vol = cinder.volumes.create(1, name="cc-attach")
    _wait(lambda: cinder.volumes.get(vol.id), "available")
    server = str(uuid.uuid4())
    cinder.volumes.reserve(vol.id)
    assert cinder.volumes.get(vol.id).status == "attaching"
    info = cinder.volumes.initialize_connection(vol.id, CONNECTOR)
    assert info["driver_volume_type"] == "file" and info["data"]
    cinder.volumes.attach(vol.id, server, "/dev/vdb", mode="rw")
    shown = cinder.volumes.get(vol.id)
    assert shown.status == "in-use"
    (att,) = shown.attachments
    assert att["server_id"] == server and att["device"] == "/dev/vdb"
    with pytest.raises(exceptions.BadRequest):  # in-use: Cinder's 400
        cinder.volumes.delete(vol.id)
    cinder.volumes.begin_detaching(vol.id)
    assert cinder.volumes.get(vol.id).status == "detaching"
    cinder.volumes.terminate_connection(vol.id, CONNECTOR)
    cinder.volumes.detach(vol.id, att["attachment_id"])
    shown = cinder.volumes.get(vol.id)
    assert shown.status == "available" and shown.attachments == []

    # the 3.27+ attachments API, as Nova drives it
    created = cinder.attachments.create(vol.id, CONNECTOR, server, "rw")  # a dict
    assert created["connection_info"]["driver_volume_type"] == "file"
    assert created["connection_info"]["attachment_id"] == created["id"]
    cinder.attachments.complete(created["id"])
    assert cinder.volumes.get(vol.id).status == "in-use"
    cinder.attachments.delete(created["id"])
    assert cinder.volumes.get(vol.id).status == "available"
    cinder.volumes.delete(vol.id)


def _cinder_cli(server: LiveServer, *args: str) -> str:
    return run_cli([tool("cinder"), "--os-auth-type", "noauth", "--os-user-id", "cli",
                    "--os-project-id", PROJECT, "--os-endpoint",
                    server.url + "/volume/v3", "--os-volume-api-version", "3.71",
                    *args]).stdout


def _delete_api(server: LiveServer, kind: str, object_id: str) -> None:
    resp = httpx.delete(f"{server.url}/volume/v3/{PROJECT}/{kind}s/{object_id}", timeout=30)
    assert resp.status_code == 202, resp.text
    _wait_api(server, kind, object_id, None)


def test_cinder_cli(live_server: LiveServer) -> None:
    vid = parse_table(_cinder_cli(live_server, "create", "--name", "cli-vol", "1"))["id"]
    _wait_api(live_server, "volume", vid, "available")
    _cinder_cli(live_server, "extend", vid, "2")
    _wait_api(live_server, "volume", vid, "available")
    snap = parse_table(_cinder_cli(live_server, "snapshot-create", "--name", "cli-s", vid))
    assert snap["volume_id"] == vid
    _wait_api(live_server, "snapshot", snap["id"], "available")
    shown = parse_table(_cinder_cli(live_server, "show", vid))
    assert (shown["size"], shown["name"], shown["status"]) == ("2", "cli-vol", "available")
    _delete_api(live_server, "snapshot", snap["id"])
    _cinder_cli(live_server, "delete", vid)
    _wait_api(live_server, "volume", vid, None)


def _os(server: LiveServer, *args: str) -> Any:
    out = run_cli([tool("openstack"), "--os-auth-type", "none", "--os-endpoint",
                   server.url + "/volume/v3", "--os-volume-api-version", "3.71", *args]).stdout
    return json.loads(out) if out.strip() else None


def test_openstack_cli(live_server: LiveServer) -> None:
    vol = _os(live_server, "volume", "create", "--size", "1", "osc-vol", "-f", "json")
    _wait_api(live_server, "volume", vol["id"], "available")
    _os(live_server, "volume", "set", "--size", "2", vol["id"])
    _wait_api(live_server, "volume", vol["id"], "available")
    snap = _os(live_server, "volume", "snapshot", "create", "--volume", vol["id"], "osc-snap",
               "-f", "json")
    assert snap["volume_id"] == vol["id"]
    _wait_api(live_server, "snapshot", snap["id"], "available")
    listed = _os(live_server, "volume", "list", "-f", "json")
    assert {"ID": vol["id"], "Name": "osc-vol", "Status": "available", "Size": 2} \
        .items() <= next(v for v in listed if v["ID"] == vol["id"]).items()
    _delete_api(live_server, "snapshot", snap["id"])
    _os(live_server, "volume", "delete", vol["id"])
    _wait_api(live_server, "volume", vol["id"], None)


def test_openstacksdk(live_server: LiveServer) -> None:
    import openstack

    conn = openstack.connect(
        auth_type="none",
        block_storage_endpoint_override=f"{live_server.url}/volume/v3/{PROJECT}")
    bs = conn.block_storage
    vol = bs.create_volume(size=1, name="sdk-vol")
    vol = bs.wait_for_status(vol, "available", wait=120, interval=0.1)
    assert vol.id in [v.id for v in bs.volumes()]
    snap = bs.create_snapshot(volume_id=vol.id, name="sdk-snap")
    snap = bs.wait_for_status(snap, "available", wait=120, interval=0.1)
    clone = bs.create_volume(size=1, source_volume_id=vol.id, name="sdk-clone")
    clone = bs.wait_for_status(clone, "available", wait=120, interval=0.1)
    assert clone.source_volume_id == vol.id
    bs.extend_volume(vol, 2)
    vol = _wait(lambda: bs.get_volume(vol.id), "available")
    assert vol.size == 2
    bs.delete_volume(clone)
    bs.delete_snapshot(snap)
    bs.wait_for_delete(snap, wait=120, interval=0.1)
    bs.delete_volume(vol)
    bs.wait_for_delete(vol, wait=120, interval=0.1)
    bs.wait_for_delete(clone, wait=120, interval=0.1)
