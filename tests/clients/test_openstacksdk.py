"""openstacksdk against a real ``cowshed serve`` (``auth_type='none'``, endpoint override).

keystoneauth runs version discovery on the override: the root (``http://host:port``) answers
300 with the version list and ``/image`` does the same under the prefix; both are exercised.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.helpers import LiveServer, Payload, assert_same_bytes, digest_chunks, digest_file

openstack = pytest.importorskip("openstack")
from openstack import exceptions as sdk_exc  # noqa: E402

pytestmark = [
    pytest.mark.clients,
    # the sdk's own deprecation notices about its internals, not about what we call
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def _connect(endpoint: str) -> Any:
    return openstack.connect(auth_type="none", auth={"endpoint": endpoint},
                             image_endpoint_override=endpoint, load_yaml_config=False,
                             load_envvars=False)


@pytest.fixture(scope="module", params=["root", "image-prefix", "v2-suffix"])
def conn(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[Any]:
    # a catalog may list the endpoint bare, under /image (devstack) or with a /v2 suffix
    endpoint = {
        "root": live_server.url, "image-prefix": live_server.image_url,
        "v2-suffix": live_server.image_url + "/v2",
    }[request.param]
    connection = _connect(endpoint)
    yield connection
    connection.close()


def _name() -> str:
    return f"sdk-{uuid.uuid4().hex[:10]}"


def test_create_image_plain_upload(conn: Any, small_payload: Payload, tmp_path: Path) -> None:
    image = conn.create_image(_name(), filename=str(small_payload.path), disk_format="raw",
                              container_format="bare", wait=True, use_import=False,
                              validate_checksum=True)
    assert image.status == "active"
    assert image.size == small_payload.size
    assert image.checksum == small_payload.md5
    assert image.hash_algo == "sha512"
    assert image.hash_value == small_payload.sha512
    out = tmp_path / "out.raw"
    conn.download_image(image.id, output_file=str(out))  # the sdk checks md5 as it writes
    assert_same_bytes(digest_file(out), small_payload)
    conn.delete_image(image.id, wait=True)
    assert conn.image.find_image(image.id) is None


def test_create_image_default_path_with_data(conn: Any, small_payload: Payload) -> None:
    # no use_import: the sdk decides (a plain PUT /file unless the cloud says otherwise)
    with small_payload.path.open("rb") as fh:
        image = conn.image.create_image(name=_name(), data=fh, disk_format="raw",
                                        container_format="bare", allow_duplicates=True)
    image = conn.image.wait_for_status(conn.image.get_image(image.id), "active", wait=60)
    assert image.checksum == small_payload.md5
    assert image.hash_value == small_payload.sha512
    conn.image.delete_image(image)


def test_create_image_from_bytes_validates_checksum(conn: Any, small_payload: Payload) -> None:
    data = small_payload.path.read_bytes()
    image = conn.image.create_image(name=_name(), data=data, disk_format="raw",
                                    container_format="bare", validate_checksum=True,
                                    wait=True)
    assert image.checksum == small_payload.md5
    # the sdk records its own md5 and sha256 of the data as properties
    props = conn.image.get_image(image.id).properties
    assert props["owner_specified.openstack.md5"] == small_payload.md5
    conn.image.delete_image(image)


def test_large_image_download_streamed(conn: Any, large_payload: Payload) -> None:
    image = conn.create_image(_name(), filename=str(large_payload.path), disk_format="raw",
                              container_format="bare", wait=True, use_import=False)
    assert image.hash_value == large_payload.sha512
    resp = conn.image.download_image(image, stream=True)
    try:
        got = digest_chunks(resp.iter_content(chunk_size=1 << 20))
    finally:
        resp.close()
    assert_same_bytes(got, large_payload)
    buffer = io.BytesIO()
    conn.download_image(image.id, output_file=buffer)
    assert len(buffer.getvalue()) == large_payload.size
    conn.delete_image(image.id)


def test_list_filters_and_pagination(conn: Any) -> None:
    tag = f"t-{uuid.uuid4().hex}"
    ids = {conn.image.create_image(name=f"{tag}-{i}", tags=[tag], disk_format="raw",
                                   container_format="bare", allow_duplicates=True).id
           for i in range(5)}
    # limit is the page size here: the sdk follows the server's "next" links
    seen = [image.id for image in conn.image.images(tag=tag, limit=2)]
    assert sorted(seen) == sorted(ids)
    names = [image.name for image in conn.image.images(tag=tag, sort="name:asc", limit=2)]
    assert names == sorted(f"{tag}-{i}" for i in range(5))
    assert [i.name for i in conn.image.images(name=f"{tag}-3")] == [f"{tag}-3"]
    assert list(conn.image.images(tag=tag, status="active")) == []
    assert {i.id for i in conn.image.images(tag=tag, status="queued")} == ids
    assert ids <= {image.id for image in conn.list_images()}  # the cloud layer's list
    for image_id in ids:
        conn.image.delete_image(image_id)
    assert list(conn.image.images(tag=tag)) == []


def test_update_image_properties(conn: Any) -> None:
    image = conn.image.create_image(name=_name(), disk_format="raw", container_format="bare",
                                    allow_duplicates=True, colour="red")
    # the cloud layer needs the Image resource (it reads .properties of what it is given)
    conn.update_image_properties(image=conn.image.get_image(image.id), colour="blue",
                                 hw_disk_bus="virtio", min_ram=256)
    fresh = conn.image.get_image(image.id)
    assert fresh.properties["colour"] == "blue"
    assert fresh.hw_disk_bus == "virtio"  # a property the sdk models as an attribute
    assert fresh.min_ram == 256
    conn.image.update_image(fresh, name="renamed", os_distro="debian")
    fresh = conn.image.get_image(image.id)
    assert (fresh.name, fresh.os_distro) == ("renamed", "debian")
    conn.image.delete_image(image)


def test_tags(conn: Any) -> None:
    image = conn.image.create_image(name=_name(), disk_format="raw", container_format="bare",
                                    allow_duplicates=True)
    conn.image.add_tag(image, "alpha")
    conn.image.add_tag(image, "beta")
    assert sorted(conn.image.get_image(image.id).tags) == ["alpha", "beta"]
    conn.image.remove_tag(image, "alpha")
    assert conn.image.get_image(image.id).tags == ["beta"]
    conn.image.delete_image(image)


def test_protected_delete_refused_then_delete(conn: Any) -> None:
    image = conn.image.create_image(name=_name(), disk_format="raw", container_format="bare",
                                    allow_duplicates=True, is_protected=True)
    assert conn.image.get_image(image.id).is_protected is True
    with pytest.raises(sdk_exc.ForbiddenException):
        conn.image.delete_image(image)
    conn.image.update_image(image, is_protected=False)
    conn.image.delete_image(image)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.image.get_image(image.id)
