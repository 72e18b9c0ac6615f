"""python-glanceclient (the library) against a real ``cowshed serve``, under ``/image``."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.clients.helpers import (
    LiveServer,
    MiB,
    Payload,
    assert_same_bytes,
    digest_chunks,
)

glanceclient = pytest.importorskip("glanceclient")
from glanceclient import exc as gexc  # noqa: E402

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def gc(live_server: LiveServer) -> Any:
    # the devstack-style endpoint, without the version: the client appends /v2
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`version` keyword", DeprecationWarning)
        return glanceclient.Client("2", endpoint=live_server.image_url, token="x")


@pytest.fixture
def tag() -> str:
    """A tag no other test uses, to list only this test's images."""
    return f"t-{uuid.uuid4().hex}"


def _create(gc: Any, **extra: Any) -> Any:
    return gc.images.create(name=extra.pop("name", f"gc-{uuid.uuid4().hex[:8]}"),
                            disk_format="raw", container_format="bare", **extra)


def _upload(gc: Any, payload: Payload, **extra: Any) -> Any:
    image = _create(gc, **extra)
    with payload.path.open("rb") as fh:
        gc.images.upload(image.id, fh, image_size=payload.size)
    return gc.images.get(image.id)


def _check_record(image: Any, payload: Payload) -> None:
    assert image.status == "active"
    assert image.size == payload.size
    assert image.checksum == payload.md5
    assert image.os_hash_algo == "sha512"
    assert image.os_hash_value == payload.sha512


def _download(gc: Any, image_id: str) -> Iterator[bytes]:
    # glanceclient checks os_hash_value while streaming and raises IOError on a mismatch;
    # the caller hashes the bytes itself as well.
    data = gc.images.data(image_id)
    assert data, "no data (204)"
    yield from data


def test_create_upload_download_small(
    gc: Any, small_payload: Payload, live_server: LiveServer,
) -> None:
    image = _create(gc, os_distro="cirros", hw_disk_bus="virtio")
    assert image.status == "queued"
    assert image.os_distro == "cirros"
    no_data = httpx.get(f"{live_server.image_url}/v2/images/{image.id}/file")
    assert no_data.status_code == 204
    assert not gc.images.data(image.id)  # glanceclient's answer to a 204
    with small_payload.path.open("rb") as fh:
        gc.images.upload(image.id, fh, image_size=small_payload.size)
    uploaded = gc.images.get(image.id)
    _check_record(uploaded, small_payload)
    assert uploaded.virtual_size == small_payload.size
    assert_same_bytes(digest_chunks(_download(gc, image.id)), small_payload)


def test_upload_without_size_is_chunked(gc: Any, small_payload: Payload) -> None:
    # no image_size: glanceclient streams with Transfer-Encoding: chunked
    image = _create(gc)
    with small_payload.path.open("rb") as fh:
        gc.images.upload(image.id, fh)
    _check_record(gc.images.get(image.id), small_payload)


def test_large_random_image_round_trip(gc: Any, large_payload: Payload) -> None:
    image = _upload(gc, large_payload)
    _check_record(image, large_payload)
    assert_same_bytes(digest_chunks(_download(gc, image.id)), large_payload)
    gc.images.delete(image.id)


def test_sparse_image_round_trip_and_stays_thin(
    gc: Any, sparse_payload: Payload, live_server: LiveServer,
) -> None:
    image = _upload(gc, sparse_payload)
    _check_record(image, sparse_payload)
    stored = live_server.stored_file(image.id)
    assert stored.stat().st_size == sparse_payload.size
    # the file store writes zero runs as holes: far less is allocated than the 1 GiB size
    assert stored.stat().st_blocks * 512 < 64 * MiB
    assert_same_bytes(digest_chunks(_download(gc, image.id)), sparse_payload)
    gc.images.delete(image.id)


def test_download_detects_corrupted_store(
    gc: Any, small_payload: Payload, live_server: LiveServer,
) -> None:
    """The verification above can fail: flip one stored byte and the client refuses."""
    image = _upload(gc, small_payload)
    stored = live_server.stored_file(image.id)
    os.chmod(stored, 0o600)
    with stored.open("r+b") as fh:
        fh.seek(small_payload.size // 2)
        byte = fh.read(1)
        fh.seek(small_payload.size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(IOError, match="Corrupt image download"):
        digest_chunks(_download(gc, image.id))


def test_range_requests(live_server: LiveServer, small_payload: Payload, gc: Any) -> None:
    image = _upload(gc, small_payload)
    url = f"{live_server.image_url}/v2/images/{image.id}/file"
    data = small_payload.path.read_bytes()
    size = small_payload.size
    with httpx.Client(headers={"X-Auth-Token": "x"}) as http:
        part = http.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-1999/{size}"
        assert part.headers["content-length"] == "1000"
        assert part.content == data[1000:2000]
        # Glance sends the whole image's md5, in hex, even on a 206
        assert part.headers["content-md5"] == small_payload.md5

        tail = http.get(url, headers={"Range": "bytes=-4096"})
        assert tail.status_code == 206
        assert tail.content == data[-4096:]

        rest = http.get(url, headers={"Range": f"bytes={size - 10}-"})
        assert rest.status_code == 206
        assert rest.content == data[-10:]

        beyond = http.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416

        whole = http.get(url)
        assert whole.status_code == 200
        assert whole.headers["content-length"] == str(size)
        assert whole.content == data


def test_list_filters_and_pagination(gc: Any, tag: str, small_payload: Payload) -> None:
    ids = {_create(gc, name=f"page-{i:02d}-{tag}", tags=[tag]).id for i in range(7)}
    seen = [image.id for image in gc.images.list(filters={"tag": [tag]}, page_size=3)]
    assert sorted(seen) == sorted(ids)  # every image exactly once across three pages

    by_name = [image.name for image in gc.images.list(
        filters={"tag": [tag]}, page_size=2, sort_key="name", sort_dir="asc")]
    assert by_name == sorted(by_name)
    assert len(by_name) == 7

    assert [i.id for i in gc.images.list(filters={"tag": [tag]}, limit=4, page_size=3)] \
        == seen[:4]

    one = f"page-03-{tag}"
    assert [image.name for image in gc.images.list(filters={"name": one})] == [one]

    active = _upload(gc, small_payload, tags=[tag], colour="teal")
    assert [i.id for i in gc.images.list(filters={"tag": [tag], "status": "active"})] \
        == [active.id]
    assert [i.id for i in gc.images.list(filters={"tag": [tag], "colour": "teal"})] \
        == [active.id]
    assert [i.id for i in gc.images.list(
        filters={"tag": [tag], "size_min": small_payload.size})] == [active.id]
    queued = {i.id for i in gc.images.list(filters={"tag": [tag], "status": "queued"})}
    assert queued == ids


def test_patch_add_replace_remove_properties(gc: Any) -> None:
    image = _create(gc, colour="red", shape="round")
    updated = gc.images.update(image.id, colour="blue", size_class="xl",
                               remove_props=["shape"])
    assert updated.colour == "blue"  # replace
    assert updated.size_class == "xl"  # add
    assert "shape" not in updated  # remove
    assert gc.images.get(image.id).colour == "blue"
    updated = gc.images.update(image.id, min_ram=1024, name="renamed")
    assert (updated.min_ram, updated.name) == (1024, "renamed")
    with pytest.raises(gexc.HTTPForbidden):
        gc.images.update(image.id, checksum="0" * 32)  # read-only attribute


def test_tags(gc: Any) -> None:
    image = _create(gc, tags=["one"])
    gc.image_tags.update(image.id, "two")
    gc.image_tags.update(image.id, "two")  # idempotent
    assert sorted(gc.images.get(image.id).tags) == ["one", "two"]
    gc.image_tags.delete(image.id, "one")
    assert gc.images.get(image.id).tags == ["two"]
    with pytest.raises(gexc.HTTPNotFound):
        gc.image_tags.delete(image.id, "absent")


def test_deactivate_reactivate(gc: Any, small_payload: Payload) -> None:
    image = _upload(gc, small_payload)
    gc.images.deactivate(image.id)
    assert gc.images.get(image.id).status == "deactivated"
    gc.images.reactivate(image.id)
    assert gc.images.get(image.id).status == "active"
    assert_same_bytes(digest_chunks(_download(gc, image.id)), small_payload)


def test_protected_delete_is_refused(gc: Any, small_payload: Payload) -> None:
    image = _upload(gc, small_payload, protected=True)
    with pytest.raises(gexc.HTTPForbidden):
        gc.images.delete(image.id)
    assert gc.images.get(image.id).status == "active"
    gc.images.update(image.id, protected=False)
    gc.images.delete(image.id)
    with pytest.raises(gexc.HTTPNotFound):
        gc.images.get(image.id)


def test_upload_to_active_image_conflicts(gc: Any, small_payload: Payload) -> None:
    image = _upload(gc, small_payload)
    with small_payload.path.open("rb") as fh, pytest.raises(gexc.HTTPConflict):
        gc.images.upload(image.id, fh, image_size=small_payload.size)
    _check_record(gc.images.get(image.id), small_payload)
