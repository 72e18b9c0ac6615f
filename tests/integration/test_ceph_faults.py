"""Storage faults on Ceph, through a real ``cowshed serve`` on a 3-OSD dev cluster (pool size 2,
min_size 1): one OSD stopped changes nothing a client sees and loses nothing; the whole cluster
unreachable is a prompt 503 with a clear message, and the same process serves again as soon as
Ceph answers (no restart).

One cluster and one server serve every test of the module (a cluster start costs seconds).
What is in Ceph is read back with librbd from the test, never through cowshed.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowshed.dev.ceph import DevCephCluster
from cowshed.dev.ceph_conf import GiB
from tests.integration._server import Server
from tests.integration.conftest import require_ceph_binaries

pytestmark = pytest.mark.ceph

MiB = 1 << 20
V3 = "/volume/v3"
OCTET = {"Content-Type": "application/octet-stream"}
#: rados_connect_timeout of the server: every Ceph call gives up after this many seconds.
RADOS_TIMEOUT = 3
#: the longest a request may take while Ceph is unreachable (several Ceph calls, each bounded,
#: plus a loaded 2-core machine).
BOUNDED = 8 * RADOS_TIMEOUT


@pytest.fixture(scope="module")
def ceph3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCephCluster]:
    """3 memstore OSDs (256 MiB each: the tests write a few MiB), pools of size 2, min_size 1."""
    require_ceph_binaries()
    cluster = DevCephCluster(tmp_path_factory.mktemp("ceph3"), osds=3, memstore_bytes=GiB // 4,
                             pg_num=8, pool_size=2, pool_min_size=1)
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def server(ceph3: DevCephCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ceph-faults")
    conf = ceph3.conf_path
    config = root / "cowshed.toml"
    # sweeps every 5 s: what an abort could not remove while Ceph was away goes soon after
    config.write_text(
        'default_backend = "ceph"\ndefault_volume_type = "ceph"\nmaintenance_interval = 5\n'
        f'[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "images"\nrbd_store_ceph_conf = "{conf}"\n'
        f"rados_connect_timeout = {RADOS_TIMEOUT}\nrbd_write_timeout = {RADOS_TIMEOUT}\n"
        f'[volume_backends.ceph]\ntype = "rbd"\nrbd_pool = "volumes"\nrbd_ceph_conf = "{conf}"\n'
        f"rados_connect_timeout = {RADOS_TIMEOUT}\n")
    srv = Server(root / "data", config)
    srv.start(timeout=120)
    try:
        yield srv
    finally:
        srv.kill()


# -- helpers ----------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: httpx.Client, data: bytes) -> str:
    resp = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    assert resp.status_code == 201, resp.text
    image_id = str(resp.json()["id"])
    resp = client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTET)
    assert resp.status_code == 204, resp.text
    assert client.get(f"/v2/images/{image_id}").json()["status"] == "active"
    return image_id


def download_sha(client: httpx.Client, image_id: str) -> str:
    resp = client.get(f"/v2/images/{image_id}/file")
    assert resp.status_code == 200, resp.text
    return sha(resp.content)


def volume_status(client: httpx.Client, volume_id: str) -> str | None:
    resp = client.get(f"{V3}/volumes/{volume_id}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return str(resp.json()["volume"]["status"])


def wait_volume(client: httpx.Client, volume_id: str, status: str | None) -> None:
    """Wait for ``status`` (None: the volume is gone); any error status fails at once."""
    deadline = time.monotonic() + 120
    while (current := volume_status(client, volume_id)) != status:
        assert current is None or not current.startswith("error"), (volume_id, current)
        assert time.monotonic() < deadline, (volume_id, current)
        time.sleep(0.1)


def new_volume(client: httpx.Client, **spec: Any) -> str:
    resp = client.post(f"{V3}/volumes", json={"volume": {"size": 1, **spec}})
    assert resp.status_code == 202, resp.text
    volume_id = str(resp.json()["volume"]["id"])
    wait_volume(client, volume_id, "available")
    return volume_id


def delete_volume(client: httpx.Client, cluster: DevCephCluster, volume_id: str) -> None:
    """Delete and wait until the record (hidden at once) and the RBD image are both gone."""
    resp = client.delete(f"{V3}/volumes/{volume_id}")
    assert resp.status_code == 202, resp.text
    wait_volume(client, volume_id, None)
    deadline = time.monotonic() + 120
    while f"volume-{volume_id}" in rbd_names(cluster, "volumes"):
        # a failed delete shows the volume again, in error_deleting
        assert volume_status(client, volume_id) is None, volume_status(client, volume_id)
        assert time.monotonic() < deadline, volume_id
        time.sleep(0.2)


def rbd_read(cluster: DevCephCluster, pool: str, name: str, length: int) -> bytes:
    """``length`` bytes from the start of RBD image ``pool/name``, read with librbd."""
    rados, rbd = importlib.import_module("rados"), importlib.import_module("rbd")
    client = rados.Rados(conffile=str(cluster.conf_path))
    client.connect(timeout=30)
    try:
        ioctx = client.open_ioctx(pool)
        try:
            with rbd.Image(ioctx, name, read_only=True) as image:
                return bytes(image.read(0, length))
        finally:
            ioctx.close()
    finally:
        client.shutdown()


def rbd_names(cluster: DevCephCluster, pool: str) -> list[str]:
    """Every RBD image in ``pool`` (incomplete ones included), listed with librbd."""
    rados, rbd = importlib.import_module("rados"), importlib.import_module("rbd")
    client = rados.Rados(conffile=str(cluster.conf_path))
    client.connect(timeout=30)
    try:
        ioctx = client.open_ioctx(pool)
        try:
            return [str(name) for name in rbd.RBD().list(ioctx)]
        finally:
            ioctx.close()
    finally:
        client.shutdown()


def daemon_pids(cluster: DevCephCluster) -> list[int]:
    pids = [pid for pid in cluster.status().daemons.values() if pid is not None]
    assert len(pids) == 4, cluster.status()  # mon + 3 OSDs
    return pids


# -- one OSD stopped ----------------------------------------------------------------------------


def test_one_osd_stopped_keeps_serving_and_loses_nothing(
        ceph3: DevCephCluster, server: Server) -> None:
    """Images and volumes (create, clone, delete) work with osd.1 stopped; once it is back and
    recovery is done, a different OSD is stopped and every byte is still there — so what was
    written while osd.1 was away was also copied onto it."""
    with server.client(timeout=120) as client:
        old_data = os.urandom(6 * MiB)
        old = upload(client, old_data)
        blank = new_volume(client, name="blank")

        ceph3.stop_osd(1)
        try:
            new_data = os.urandom(5 * MiB)
            new = upload(client, new_data)
            assert download_sha(client, old) == sha(old_data)
            assert download_sha(client, new) == sha(new_data)
            from_image = new_volume(client, imageRef=new)       # an RBD clone of the image
            clone = new_volume(client, source_volid=from_image)  # snapshot + clone
            delete_volume(client, ceph3, blank)
            gone = upload(client, os.urandom(MiB))
            assert client.delete(f"/v2/images/{gone}").status_code == 204
        finally:
            ceph3.start_osd(1)
        ceph3.wait_clean(timeout=120)

        ceph3.stop_osd(0)
        try:
            assert download_sha(client, old) == sha(old_data)
            assert download_sha(client, new) == sha(new_data)
            for volume in (from_image, clone):
                data = rbd_read(ceph3, "volumes", f"volume-{volume}", len(new_data))
                assert sha(data) == sha(new_data), volume
        finally:
            ceph3.start_osd(0)
        ceph3.wait_clean(timeout=120)
        assert client.get(f"/v2/images/{gone}").status_code == 404
        for volume in (clone, from_image):
            delete_volume(client, ceph3, volume)
    assert server.unexpected_errors() == []


# -- Ceph unreachable ---------------------------------------------------------------------------


def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    resp = call()
    return resp, time.monotonic() - started


def assert_503(resp: httpx.Response, elapsed: float) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.text)
    assert elapsed < BOUNDED, elapsed
    assert "ceph" in resp.text.lower(), resp.text


def test_unreachable_ceph_is_a_prompt_503_and_the_server_recovers_by_itself(
        ceph3: DevCephCluster, server: Server) -> None:
    """Every daemon frozen (SIGSTOP: a network partition as the client sees it): uploads,
    downloads and volume create/delete answer 503 within a bound, change nothing, and the
    same server process works again once the daemons run."""
    assert server.proc is not None
    pid = server.proc.pid
    with server.client(timeout=120) as client:
        data = os.urandom(3 * MiB)
        image = upload(client, data)
        volume = new_volume(client)
        waiting = client.post("/v2/images", json={"disk_format": "raw",
                                                  "container_format": "bare"}).json()["id"]
        pids = daemon_pids(ceph3)
        for daemon in pids:
            os.kill(daemon, signal.SIGSTOP)
        try:
            assert_503(*timed(lambda: client.put(f"/v2/images/{waiting}/file",
                                                 content=os.urandom(2 * MiB), headers=OCTET)))
            assert_503(*timed(lambda: client.get(f"/v2/images/{image}/file")))
            assert_503(*timed(lambda: client.post(f"{V3}/volumes",
                                                  json={"volume": {"size": 1}})))
            resp, elapsed = timed(lambda: client.delete(f"{V3}/volumes/{volume}"))
            assert_503(resp, elapsed)
            assert set(resp.json()) == {"serviceUnavailable"}, resp.text
            assert_503(*timed(lambda: client.post(f"{V3}/snapshots",
                                                  json={"snapshot": {"volume_id": volume}})))
            # and the operator's view says which check failed
            health, elapsed = timed(lambda: client.get("/healthcheck"))
            assert health.status_code == 503 and elapsed < BOUNDED, health.text
            assert "store:ceph" in health.text, health.text
            # nothing changed: the image waits for data, the volume is still there
            assert client.get(f"/v2/images/{waiting}").json()["status"] == "queued"
            assert volume_status(client, volume) == "available"
            names = [v["id"] for v in client.get(f"{V3}/volumes").json()["volumes"]]
            assert names == [volume]
            assert client.get(f"{V3}/snapshots").json()["snapshots"] == []
        finally:
            for daemon in pids:
                os.kill(daemon, signal.SIGCONT)

        # back without a restart of the server, once Ceph itself is healthy again (thawed OSDs
        # may re-peer first)
        ceph3.wait_clean(timeout=120)
        assert client.get("/healthcheck").status_code == 200
        assert download_sha(client, image) == sha(data)
        late = os.urandom(2 * MiB)
        resp = client.put(f"/v2/images/{waiting}/file", content=late, headers=OCTET)
        assert resp.status_code == 204, resp.text
        assert download_sha(client, waiting) == sha(late)
        delete_volume(client, ceph3, new_volume(client))
        delete_volume(client, ceph3, volume)
    assert server.alive() and server.proc.pid == pid and server.starts == 1
    assert server.unexpected_errors() == []


def test_a_server_started_while_ceph_is_down_serves_once_it_is_back(
        ceph3: DevCephCluster, tmp_path: Path, server: Server) -> None:
    """Ceph gone before the process first connects: the server still starts (its start-up
    sweeps of the stores fail and are retried later), answers 503, and connects as soon as
    Ceph answers, without a restart."""
    pids = daemon_pids(ceph3)
    second = Server(tmp_path / "data", server.config)
    for daemon in pids:
        os.kill(daemon, signal.SIGSTOP)
    try:
        second.start(timeout=120)
        with second.client(timeout=120) as client:
            image = client.post("/v2/images", json={"disk_format": "raw",
                                                    "container_format": "bare"}).json()["id"]
            assert_503(*timed(lambda: client.put(f"/v2/images/{image}/file",
                                                 content=os.urandom(MiB), headers=OCTET)))
            assert_503(*timed(lambda: client.post(f"{V3}/volumes",
                                                  json={"volume": {"size": 1}})))
    finally:
        for daemon in pids:
            os.kill(daemon, signal.SIGCONT)
    ceph3.wait_clean(timeout=120)
    try:
        with second.client(timeout=120) as client:
            data = os.urandom(MiB)
            resp = client.put(f"/v2/images/{image}/file", content=data, headers=OCTET)
            assert resp.status_code == 204, resp.text
            assert download_sha(client, image) == sha(data)
            delete_volume(client, ceph3, new_volume(client))
    finally:
        second.kill()
    assert second.unexpected_errors() == []


def test_with_only_the_monitor_down_an_open_connection_still_reads_and_writes(
        ceph3: DevCephCluster, server: Server) -> None:
    """Data paths need OSDs, not the monitor: downloads and a blank volume go on. An upload
    commits with a protected snapshot, which needs the monitor: it is a 503 with the image back
    to queued (its incomplete RBD image removed by a later sweep) or, when the monitor answers
    again first, it completes — either way, once the monitor is back, never a hang or a 500."""
    mon = ceph3.status().daemons["mon.a"]
    assert mon is not None
    with server.client(timeout=120) as client:
        data = os.urandom(2 * MiB)
        image = upload(client, data)
        waiting = client.post("/v2/images", json={"disk_format": "raw",
                                                  "container_format": "bare"}).json()["id"]
        early = os.urandom(MiB)
        answer: list[httpx.Response] = []
        os.kill(mon, signal.SIGSTOP)
        try:
            assert download_sha(client, image) == sha(data)
            volume = new_volume(client)
            writer = threading.Thread(target=lambda: answer.append(client.put(
                f"/v2/images/{waiting}/file", content=early, headers=OCTET)))
            writer.start()
            writer.join(timeout=BOUNDED)
        finally:
            os.kill(mon, signal.SIGCONT)
        writer.join(timeout=120)
        assert not writer.is_alive() and answer, "the upload hung after the monitor returned"
        if answer[0].status_code == 204:
            assert download_sha(client, waiting) == sha(early)
        else:
            assert answer[0].status_code == 503, (answer[0].status_code, answer[0].text)
            assert client.get(f"/v2/images/{waiting}").json()["status"] == "queued"
            # the abort's own removal needed the monitor too; the next maintenance sweep does it
            deadline = time.monotonic() + 60
            while any(n.startswith(".incoming.") for n in rbd_names(ceph3, "images")):
                assert time.monotonic() < deadline, rbd_names(ceph3, "images")
                time.sleep(0.5)
            late = os.urandom(MiB)
            resp = client.put(f"/v2/images/{waiting}/file", content=late, headers=OCTET)
            assert resp.status_code == 204, resp.text
            assert download_sha(client, waiting) == sha(late)
        delete_volume(client, ceph3, volume)
    assert server.unexpected_errors() == []
