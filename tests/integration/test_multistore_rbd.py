"""Multi-store through the HTTP API: a ``file`` store and an ``rbd`` store on the dev Ceph cluster.

The app runs in-process (starlette TestClient around ``create_app``, lifespan included) with
settings read from a TOML file, as a deployment would. What is in Ceph is checked with the
``rbd`` CLI against the dev cluster's ``ceph.conf``, never through cowshed itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowshed.api.app import create_app
from cowshed.config import Settings, load_settings
from cowshed.dev.ceph import DevCephCluster
from cowshed.services.app import Services

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's import-time hint about httpx
    from starlette.testclient import TestClient

pytestmark = pytest.mark.ceph

MiB = 1 << 20
OCTET = {"Content-Type": "application/octet-stream"}
JSON = {"Accept": "application/json"}
ZERO_FSID = "00000000-0000-0000-0000-000000000000"
COPY_TO_CEPH = {"method": {"name": "copy-image"}, "stores": ["ceph"]}


# -- the rbd CLI ------------------------------------------------------------------------------


def rbd_json(cluster: DevCephCluster, *args: str) -> Any:
    proc = subprocess.run(["rbd", "-c", str(cluster.conf_path), *args, "--format", "json"],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def rbd_do(cluster: DevCephCluster, *args: str) -> None:
    proc = subprocess.run(["rbd", "-c", str(cluster.conf_path), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"rbd {' '.join(args)}: {proc.stderr}"


def rbd_ls(cluster: DevCephCluster, pool: str) -> list[str]:
    return [str(name) for name in rbd_json(cluster, "ls", pool)]


def rbd_info(cluster: DevCephCluster, pool: str, name: str) -> dict[str, Any] | None:
    proc = subprocess.run(["rbd", "-c", str(cluster.conf_path), "info", f"{pool}/{name}",
                           "--format", "json"], capture_output=True, text=True)
    if proc.returncode != 0:
        assert "No such file" in proc.stderr or "not exist" in proc.stderr, proc.stderr
        return None
    info: dict[str, Any] = json.loads(proc.stdout)
    return info


def rbd_snaps(cluster: DevCephCluster, pool: str, name: str) -> dict[str, bool]:
    """snapshot name → protected."""
    return {s["name"]: s.get("protected") == "true"
            for s in rbd_json(cluster, "snap", "ls", f"{pool}/{name}")}


def assert_published_rbd_image(cluster: DevCephCluster, pool: str, image_id: str,
                               size: int) -> None:
    """``pool/image_id`` exists with ``size`` bytes and a protected ``snap``; no leftovers."""
    info = rbd_info(cluster, pool, image_id)
    assert info is not None, f"{pool}/{image_id} is not in Ceph"
    assert info["size"] == size
    assert rbd_snaps(cluster, pool, image_id) == {"snap": True}
    assert [n for n in rbd_ls(cluster, pool) if n.startswith(".incoming.")] == []


def ceph_fsid(cluster: DevCephCluster) -> str:
    proc = subprocess.run(["ceph", "-c", str(cluster.conf_path), "fsid"], check=True,
                          capture_output=True, text=True, timeout=30)
    return proc.stdout.strip()


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()


# -- the app ----------------------------------------------------------------------------------


def write_settings(tmp: Path, cluster: DevCephCluster | None, pool: str | None) -> Settings:
    """``file`` (default) and ``ceph`` stores from a TOML file; no stores without a pool."""
    text = 'default_backend = "file"\nshow_image_direct_url = true\n'
    if cluster is not None and pool is not None:
        text += (
            f'[stores.file]\ntype = "file"\nfilesystem_store_datadir = "{tmp / "images"}"\n'
            f'description = "local disk"\n'
            f'[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "{pool}"\n'
            f'rbd_store_ceph_conf = "{cluster.conf_path}"\nrados_connect_timeout = 30\n'
            f'weight = 10\nconvert_to = "raw"\ndescription = "dev ceph"\n'
        )
    toml = tmp / "cowshed.toml"
    toml.write_text(text)
    return load_settings(data_dir=tmp / "data", config_file=toml, environ={})


@dataclass
class Api:
    client: TestClient
    pool: str
    cluster: DevCephCluster

    @property
    def svc(self) -> Services:
        svc: Services = self.client.app.state.services  # type: ignore[attr-defined]
        return svc

    def create(self, **body: Any) -> str:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        r = self.client.post("/v2/images", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def show(self, image_id: str) -> dict[str, Any]:
        r = self.client.get(f"/v2/images/{image_id}")
        assert r.status_code == 200, r.text
        image: dict[str, Any] = r.json()
        return image

    def upload(self, image_id: str, data: bytes, store: str | None = None) -> httpx.Response:
        headers = dict(OCTET) | JSON
        if store is not None:
            headers["X-Image-Meta-Store"] = store
        r: httpx.Response = self.client.put(f"/v2/images/{image_id}/file", content=data,
                                            headers=headers)
        return r

    def image_in(self, store: str | None, data: bytes) -> str:
        image_id = self.create()
        r = self.upload(image_id, data, store)
        assert r.status_code == 204, r.text
        return image_id

    def download(self, image_id: str, query: str = "", **headers: str) -> httpx.Response:
        r: httpx.Response = self.client.get(f"/v2/images/{image_id}/file{query}",
                                            headers=headers | JSON)
        return r

    def import_and_wait(self, image_id: str, body: Any, timeout: float = 30.0) -> dict[str, Any]:
        known = {t["id"] for t in self.tasks(image_id)}
        r = self.client.post(f"/v2/images/{image_id}/import", json=body, headers=JSON)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + timeout
        while True:
            fresh = [t for t in self.tasks(image_id) if t["id"] not in known]
            if fresh and fresh[-1]["status"] in ("success", "failure"):
                return fresh[-1]
            assert time.monotonic() < deadline, f"import of {image_id} did not finish: {fresh}"
            time.sleep(0.02)

    def tasks(self, image_id: str) -> list[dict[str, Any]]:
        r = self.client.get(f"/v2/images/{image_id}/tasks")
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["tasks"]
        return found

    def file_path(self, image_id: str) -> Path:
        root = self.svc.settings.stores[0].options["filesystem_store_datadir"]
        return Path(str(root)) / image_id

    def rbd_url(self, image_id: str) -> str:
        return f"rbd://{self.cluster.fsid}/{self.pool}/{image_id}/snap"


@pytest.fixture(scope="module")
def pool(ceph_cluster: DevCephCluster) -> Iterator[str]:
    """A fresh pool for this module's ``ceph`` store."""
    name = f"ms-{uuid.uuid4().hex[:10]}"
    ceph_cluster.create_pool(name)
    try:
        yield name
    finally:
        ceph_cluster.delete_pool(name)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, ceph_cluster: DevCephCluster,
        pool: str) -> Iterator[Api]:
    settings = write_settings(tmp_path_factory.mktemp("multistore"), ceph_cluster, pool)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, pool, ceph_cluster)


# -- discovery --------------------------------------------------------------------------------


def test_info_stores_lists_both_with_the_default(api: Api) -> None:
    r = api.client.get("/v2/info/stores")
    assert r.status_code == 200, r.text
    assert r.json() == {"stores": [
        {"id": "file", "description": "local disk", "default": "true"},
        {"id": "ceph", "description": "dev ceph"},
    ]}


def test_info_stores_detail_has_type_weight_and_properties(api: Api) -> None:
    r = api.client.get("/v2/info/stores/detail")
    assert r.status_code == 200, r.text
    stores = {s["id"]: s for s in r.json()["stores"]}
    assert set(stores) == {"file", "ceph"}
    ceph, file = stores["ceph"], stores["file"]
    assert (ceph["type"], ceph["weight"], ceph["description"]) == ("rbd", 10, "dev ceph")
    assert "default" not in ceph
    assert ceph["properties"]["pool"] == api.pool
    fsid = ceph["properties"]["fsid"]
    assert fsid != ZERO_FSID
    assert fsid == ceph_fsid(api.cluster) == api.cluster.fsid
    assert ceph["properties"]["chunk_size"] == 8 * MiB
    assert ceph["properties"]["thin_provisioning"] is True
    assert (file["type"], file["weight"], file["default"]) == ("file", 0, "true")
    assert file["properties"]["data_dir"] == str(api.file_path("x").parent)


def test_versions_and_create_header_with_multistore(api: Api) -> None:
    ids = [v["id"] for v in api.client.get("/versions").json()["versions"]]
    assert {f"v2.{m}" for m in range(8, 14)} <= set(ids)
    r = api.client.post("/v2/images", json={"name": "hdr"})
    assert r.status_code == 201
    assert r.headers["OpenStack-image-store-ids"] == "file,ceph"


def test_without_stores_multistore_is_off(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, None, None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for path in ("/v2/info/stores", "/v2/info/stores/detail"):
            assert client.get(path, headers=JSON).status_code == 404
        ids = [v["id"] for v in client.get("/versions").json()["versions"]]
        assert not {f"v2.{m}" for m in range(8, 14)} & set(ids)
        assert {"v2.7", "v2.14"} <= set(ids)
        r = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
        assert r.status_code == 201
        assert "OpenStack-image-store-ids" not in r.headers
        r = client.put(f"/v2/images/{r.json()['id']}/file", content=b"x",
                       headers=OCTET | {"X-Image-Meta-Store": "file"})
        assert r.status_code == 400


# -- upload and download ----------------------------------------------------------------------


def test_upload_into_ceph(api: Api) -> None:
    data = os.urandom(9 * MiB + 123)  # more than one RBD object, not a multiple of one
    image_id = api.image_in("ceph", data)
    image = api.show(image_id)
    assert (image["status"], image["stores"], image["size"]) == ("active", "ceph", len(data))
    assert (image["checksum"], image["os_hash_value"]) == digests(data)
    fsid = api.cluster.fsid
    assert fsid is not None and fsid != ZERO_FSID and fsid == ceph_fsid(api.cluster)
    assert image["direct_url"] == f"rbd://{fsid}/{api.pool}/{image_id}/snap"
    assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))
    assert not api.file_path(image_id).exists()


def test_chunked_upload_into_ceph_grows_and_trims(api: Api) -> None:
    """No size up front: the RBD image grows while written and is trimmed to the data."""
    data = os.urandom(21 * MiB + 99)
    image_id = api.create()
    r = api.client.put(f"/v2/images/{image_id}/file", headers=OCTET,
                       content=(data[i : i + MiB] for i in range(0, len(data), MiB)))
    assert r.status_code == 204, r.text
    image = api.show(image_id)
    assert (image["stores"], image["size"]) == ("file", len(data))  # the default store
    image_id = api.create()
    r = api.client.put(f"/v2/images/{image_id}/file",
                       headers=OCTET | {"X-Image-Meta-Store": "ceph"},
                       content=(data[i : i + MiB] for i in range(0, len(data), MiB)))
    assert r.status_code == 204, r.text
    image = api.show(image_id)
    assert (image["stores"], image["size"]) == ("ceph", len(data))
    assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))
    assert digests(api.download(image_id).content) == digests(data)


def test_failed_upload_into_ceph_leaves_nothing(api: Api) -> None:
    image_id = api.create()
    r = api.client.put(f"/v2/images/{image_id}/file",
                       headers=OCTET | JSON | {"X-Image-Meta-Store": "ceph",
                                               "x-openstack-image-size": str(12 * MiB)},
                       content=(os.urandom(MiB) for _ in range(10)))
    assert r.status_code == 400, r.text
    assert api.show(image_id)["status"] == "queued"
    names = rbd_ls(api.cluster, api.pool)
    assert image_id not in names and not [n for n in names if image_id in n], names
    r = api.upload(image_id, b"second try", store="ceph")  # the queued image is usable again
    assert r.status_code == 204, r.text
    assert_published_rbd_image(api.cluster, api.pool, image_id, len(b"second try"))


def test_upload_to_an_unknown_store_is_refused(api: Api) -> None:
    image_id = api.create()
    r = api.upload(image_id, b"data", store="nowhere")
    assert r.status_code == 400 and "nowhere" in r.json()["message"]
    assert api.show(image_id)["status"] == "queued"
    assert image_id not in rbd_ls(api.cluster, api.pool)


def test_download_from_ceph_with_hashes_and_ranges(api: Api) -> None:
    data = os.urandom(17 * MiB + 5)
    image_id = api.image_in("ceph", data)
    r = api.download(image_id)
    assert r.status_code == 200
    assert digests(r.content) == digests(data)
    assert r.headers["Content-MD5"] == digests(data)[0]

    start, end = 8 * MiB - 10, 9 * MiB + 10  # across an object boundary
    r = api.download(image_id, Range=f"bytes={start}-{end}")
    assert r.status_code == 206, r.text
    assert r.content == data[start : end + 1]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    r = api.download(image_id, Range="bytes=-100")
    assert (r.status_code, r.content) == (206, data[-100:])
    r = api.download(image_id, Range=f"bytes={len(data)}-")
    assert r.status_code == 416


def test_prefer_picks_the_copy(api: Api) -> None:
    data = os.urandom(3 * MiB)
    image_id = api.image_in(None, data)
    assert api.show(image_id)["stores"] == "file"
    assert api.import_and_wait(image_id, COPY_TO_CEPH)["status"] == "success"
    # Make the two copies tell apart: the file copy is changed behind cowshed's back.
    marked = b"F" * len(data)
    api.file_path(image_id).write_bytes(marked)

    assert api.download(image_id, "?prefer=file").content == marked
    assert api.download(image_id, "?prefer=ceph").content == data
    assert api.download(image_id, "?prefer=ceph,file").content == data
    assert api.download(image_id, "?prefer=file,ceph").content == marked
    # no preference: the heavier store (ceph, weight 10)
    assert api.download(image_id).content == data
    r = api.download(image_id, "?prefer=file", Range="bytes=0-9")
    assert (r.status_code, r.content) == (206, b"F" * 10)
    r = api.download(image_id, "?prefer=ceph", Range="bytes=0-9")
    assert (r.status_code, r.content) == (206, data[:10])
    r = api.download(image_id, "?prefer=nowhere")
    assert r.status_code == 400 and "nowhere" in r.json()["message"]


# -- copy-image and delete-from-store ---------------------------------------------------------


def test_copy_image_into_ceph_and_delete_from_store(api: Api) -> None:
    data = os.urandom(5 * MiB + 7)
    image_id = api.image_in(None, data)
    assert api.show(image_id)["direct_url"] == f"file://{api.file_path(image_id)}"

    task = api.import_and_wait(image_id, COPY_TO_CEPH)
    assert task["status"] == "success", task["message"]
    image = api.show(image_id)
    assert (image["status"], image["stores"]) == ("active", "file,ceph")
    assert image["os_glance_importing_to_stores"] == ""
    assert image["os_glance_failed_import"] == ""
    assert image["direct_url"] == api.rbd_url(image_id)  # the heavier store wins
    assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))
    assert digests(api.download(image_id, "?prefer=ceph").content) == digests(data)

    r = api.client.post(f"/v2/images/{image_id}/import", json=COPY_TO_CEPH, headers=JSON)
    assert r.status_code == 400 and "already" in r.json()["message"]

    r = api.client.delete(f"/v2/stores/ceph/{image_id}", headers=JSON)
    assert r.status_code == 204, r.text
    assert image_id not in rbd_ls(api.cluster, api.pool)
    image = api.show(image_id)
    assert (image["status"], image["stores"]) == ("active", "file")
    assert image["direct_url"] == f"file://{api.file_path(image_id)}"

    task = api.import_and_wait(image_id, {"method": {"name": "copy-image"}, "all_stores": True})
    assert task["status"] == "success", task["message"]
    assert api.show(image_id)["stores"] == "file,ceph"
    assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))

    assert api.client.delete(f"/v2/stores/file/{image_id}").status_code == 204
    assert not api.file_path(image_id).exists()
    r = api.client.delete(f"/v2/stores/ceph/{image_id}", headers=JSON)
    assert r.status_code == 403 and "last location" in r.json()["message"]
    assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))
    assert api.show(image_id)["stores"] == "ceph"
    assert digests(api.download(image_id).content) == digests(data)
    r = api.client.delete(f"/v2/stores/nowhere/{image_id}", headers=JSON)
    assert r.status_code == 409

    # and back: the copy reads from Ceph
    task = api.import_and_wait(image_id, {"method": {"name": "copy-image"}, "stores": ["file"]})
    assert task["status"] == "success", task["message"]
    assert api.show(image_id)["stores"] == "ceph,file"
    assert api.file_path(image_id).read_bytes() == data


# -- the "in use" rule ------------------------------------------------------------------------


def test_delete_refused_while_a_clone_needs_the_snapshot(api: Api) -> None:
    data = os.urandom(2 * MiB)
    image_id = api.image_in("ceph", data)
    child = f"child-{uuid.uuid4().hex[:8]}"
    rbd_do(api.cluster, "clone", f"{api.pool}/{image_id}@snap", f"{api.pool}/{child}")
    try:
        r = api.client.delete(f"/v2/images/{image_id}", headers=JSON)
        assert r.status_code == 409, r.text
        assert child in r.json()["message"]
        image = api.show(image_id)
        assert (image["status"], image["stores"]) == ("active", "ceph")
        assert image["direct_url"] == api.rbd_url(image_id)
        assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))
        assert digests(api.download(image_id).content) == digests(data)
        r = api.client.delete(f"/v2/stores/ceph/{image_id}", headers=JSON)
        assert r.status_code == 403  # the last location, whatever Ceph says
    finally:
        rbd_do(api.cluster, "rm", f"{api.pool}/{child}")
    assert api.client.delete(f"/v2/images/{image_id}").status_code == 204
    assert image_id not in rbd_ls(api.cluster, api.pool)
    assert api.client.get(f"/v2/images/{image_id}").status_code == 404


def test_delete_from_store_refused_while_a_clone_needs_it(api: Api) -> None:
    data = os.urandom(MiB)
    image_id = api.image_in(None, data)
    assert api.import_and_wait(image_id, COPY_TO_CEPH)["status"] == "success"
    child = f"child-{uuid.uuid4().hex[:8]}"
    rbd_do(api.cluster, "clone", f"{api.pool}/{image_id}@snap", f"{api.pool}/{child}")
    try:
        r = api.client.delete(f"/v2/stores/ceph/{image_id}", headers=JSON)
        assert r.status_code == 409, r.text
        assert api.show(image_id)["stores"] == "file,ceph"
        assert_published_rbd_image(api.cluster, api.pool, image_id, len(data))
        # a whole-image delete must not drop the file copy on the way to the refusal
        r = api.client.delete(f"/v2/images/{image_id}", headers=JSON)
        assert r.status_code == 409, r.text
        image = api.show(image_id)
        assert (image["status"], image["stores"]) == ("active", "file,ceph")
        assert api.file_path(image_id).read_bytes() == data
    finally:
        rbd_do(api.cluster, "rm", f"{api.pool}/{child}")
    assert api.client.delete(f"/v2/images/{image_id}").status_code == 204
    assert image_id not in rbd_ls(api.cluster, api.pool)
    assert not api.file_path(image_id).exists()


# -- glance-direct with conversion ------------------------------------------------------------


def test_glance_direct_qcow2_into_ceph_is_converted_to_thin_raw(api: Api, tmp_path: Path) -> None:
    virtual = 32 * MiB
    raw = tmp_path / "disk.raw"
    with raw.open("wb") as fh:  # data in the first half, zeros in the second
        fh.write(os.urandom(virtual // 2))
        fh.truncate(virtual)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
                   check=True, capture_output=True)
    expected = tmp_path / "expected.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow2),
                    str(expected)], check=True, capture_output=True)

    image_id = api.create(disk_format="qcow2")
    r = api.client.put(f"/v2/images/{image_id}/stage", content=qcow2.read_bytes(),
                       headers=OCTET | JSON)
    assert r.status_code == 204, r.text
    task = api.import_and_wait(image_id, {"method": {"name": "glance-direct"},
                                          "stores": ["ceph"]})
    assert task["status"] == "success", task["message"]
    image = api.show(image_id)
    assert (image["status"], image["stores"]) == ("active", "ceph")
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")
    assert image["virtual_size"] == image["size"] == virtual

    assert_published_rbd_image(api.cluster, api.pool, image_id, virtual)
    du = rbd_json(api.cluster, "du", f"{api.pool}/{image_id}")
    head = next(e for e in du["images"] if e["name"] == image_id and "snapshot" not in e)
    assert head["provisioned_size"] == virtual
    used = max(e["used_size"] for e in du["images"])
    assert 0 < used <= 0.6 * virtual, du

    content = api.download(image_id).content
    assert content == expected.read_bytes()
    assert (image["checksum"], image["os_hash_value"]) == digests(content)
    assert not (api.svc.settings.staging_dir / image_id).exists()
    assert not api.file_path(image_id).exists()


# -- start-up recovery ------------------------------------------------------------------------


def test_startup_removes_rbd_orphans_and_unwatched_leftovers(
    tmp_path: Path, ceph_cluster: DevCephCluster,
) -> None:
    """Own pool and data dir: recovery deletes whatever this deployment's DB does not know."""
    own_pool = f"rec-{uuid.uuid4().hex[:10]}"
    ceph_cluster.create_pool(own_pool)
    try:
        _check_recovery(tmp_path, ceph_cluster, own_pool)
    finally:
        ceph_cluster.delete_pool(own_pool)


def _check_recovery(tmp_path: Path, cluster: DevCephCluster, pool: str) -> None:
    settings = write_settings(tmp_path, cluster, pool)
    data = os.urandom(MiB)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        kept = Api(client, pool, cluster).image_in("ceph", data)

    orphan = str(uuid.uuid4())  # a committed-looking image no record points to
    rbd_do(cluster, "create", "--size", "1M", f"{pool}/{orphan}")
    rbd_do(cluster, "snap", "create", f"{pool}/{orphan}@snap")
    rbd_do(cluster, "snap", "protect", f"{pool}/{orphan}@snap")
    leftover = f".incoming.{uuid.uuid4()}.0123456789ab"  # a crashed writer's image
    watched = f".incoming.{uuid.uuid4()}.ba9876543210"  # a live writer's image (open elsewhere)
    unrelated = "not-an-image-id"  # someone else's image in the pool: never touched
    for name in (leftover, watched, unrelated):
        rbd_do(cluster, "create", "--size", "1M", f"{pool}/{name}")

    import rados  # linked into the venv by cowshed.dev.ceph_bindings
    import rbd

    with rados.Rados(conffile=str(cluster.conf_path)) as conn, conn.open_ioctx(pool) as ioctx:
        holder = rbd.Image(ioctx, watched)  # a writable open registers a watch
        try:
            with TestClient(create_app(settings), raise_server_exceptions=False) as client:
                names = set(rbd_ls(cluster, pool))
                assert orphan not in names and leftover not in names
                assert {kept, watched, unrelated} <= names
                api = Api(client, pool, cluster)
                assert digests(api.download(kept).content) == digests(data)
                assert api.show(kept)["stores"] == "ceph"
        finally:
            holder.close()
    with TestClient(create_app(settings), raise_server_exceptions=False):
        assert set(rbd_ls(cluster, pool)) == {kept, unrelated}
    assert_published_rbd_image(cluster, pool, kept, len(data))
