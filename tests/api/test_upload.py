"""PUT /v2/images/{id}/file (§1.6): statuses, hashes, sizes and every refusal."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowshed.domain.images import ImageStatus
from tests.api.conftest import CreateImage, Upload
from tests.api.helpers import OCTET, TestClient, json_error, md5, raw_request, sha512


def show(client: TestClient, image_id: str) -> dict[str, Any]:
    record: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
    return record


def store_files(data_dir: Path) -> list[Path]:
    """Every file in the default store, committed or in progress."""
    root = data_dir / "images"
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_upload_sets_hashes_and_sizes(client: TestClient, create_image: CreateImage,
                                      upload: Upload, data_dir: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    image = create_image(name="r")
    resp = upload(image["id"], data)
    assert resp.status_code == 204
    assert resp.content == b""
    got = show(client, image["id"])
    assert got["status"] == "active"
    assert got["checksum"] == md5(data) == hashlib.md5(data).hexdigest()
    assert got["os_hash_algo"] == "sha512"
    assert got["os_hash_value"] == sha512(data)
    assert got["size"] == len(data)
    assert got["virtual_size"] == len(data)  # raw: the inspector's size is the byte count
    assert got["updated_at"] >= image["updated_at"]
    assert store_files(data_dir) == [data_dir / "images" / image["id"]]
    assert (data_dir / "images" / image["id"]).read_bytes() == data


def test_status_goes_queued_saving_active(client: TestClient, create_image: CreateImage) -> None:
    """Observe ``saving`` while the body is still streaming."""
    image = create_image()
    seen: list[str] = []
    services = client.app.state.services  # type: ignore[attr-defined]

    def body() -> Iterator[bytes]:
        seen.append(str(services.deps.repo.get_image(image["id"]).status))
        yield b"a" * 1000
        seen.append(str(services.deps.repo.get_image(image["id"]).status))
        yield b"b" * 1000

    assert show(client, image["id"])["status"] == "queued"
    resp = client.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTET)
    assert resp.status_code == 204
    assert ImageStatus.SAVING in seen
    assert show(client, image["id"])["status"] == "active"


@pytest.mark.parametrize("kind", ["application/json", "text/plain", "", "application/x-tar"])
def test_wrong_content_type_is_415(client: TestClient, create_image: CreateImage,
                                   kind: str, data_dir: Path) -> None:
    image = create_image()
    resp = client.put(f"/v2/images/{image['id']}/file", content=b"data",
                      headers={"Content-Type": kind} if kind else {})
    json_error(resp, 415)
    assert show(client, image["id"])["status"] == "queued"
    assert store_files(data_dir) == []


def test_octet_stream_with_parameters_is_ok(client: TestClient, create_image: CreateImage) -> None:
    image = create_image()
    resp = client.put(f"/v2/images/{image['id']}/file", content=b"data",
                      headers={"Content-Type": "Application/Octet-Stream; x=y"})
    assert resp.status_code == 204


def test_size_header_mismatch_with_content_length_is_400(
    client: TestClient, create_image: CreateImage, upload: Upload, data_dir: Path,
) -> None:
    image = create_image()
    resp = upload(image["id"], b"x" * 100, {"x-openstack-image-size": "99"})
    json_error(resp, 400)
    got = show(client, image["id"])
    assert (got["status"], got["size"], got["checksum"]) == ("queued", None, None)
    assert store_files(data_dir) == []
    assert upload(image["id"], b"x" * 100).status_code == 204


@pytest.mark.parametrize("declared", [50, 150])
def test_size_header_mismatch_with_chunked_body_is_400(
    client: TestClient, create_image: CreateImage, data_dir: Path, declared: int,
) -> None:
    image = create_image()

    def body() -> Iterator[bytes]:
        yield b"x" * 60
        yield b"y" * 40

    resp = client.put(f"/v2/images/{image['id']}/file", content=body(),
                      headers={**OCTET, "x-openstack-image-size": str(declared)})
    json_error(resp, 400)
    got = show(client, image["id"])
    assert (got["status"], got["size"], got["checksum"], got["os_hash_value"]) == (
        "queued", None, None, None)
    assert store_files(data_dir) == []
    # the client can retry
    resp = client.put(f"/v2/images/{image['id']}/file", content=b"z" * 10, headers=OCTET)
    assert resp.status_code == 204
    assert show(client, image["id"])["size"] == 10


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "\u00b2", "1e3", " "])
def test_bad_size_header_is_400(client: TestClient, create_image: CreateImage, upload: Upload,
                                value: str) -> None:
    image = create_image()
    resp = raw_request(client, "PUT", f"/v2/images/{image['id']}/file",
                       [(b"content-type", b"application/octet-stream"),
                        (b"x-openstack-image-size", value.encode("latin-1"))], b"x")
    json_error(resp, 400)
    assert show(client, image["id"])["status"] == "queued"


def test_size_header_matching_is_ok(client: TestClient, create_image: CreateImage,
                                    upload: Upload) -> None:
    image = create_image()
    assert upload(image["id"], b"x" * 7, {"x-openstack-image-size": "7"}).status_code == 204
    assert show(client, image["id"])["size"] == 7


def test_upload_to_active_image_is_409(client: TestClient, active_image: Any,
                                       upload: Upload, data_dir: Path) -> None:
    image = active_image(data=b"first")
    json_error(upload(image["id"], b"second"), 409)
    got = show(client, image["id"])
    assert got["checksum"] == md5(b"first")
    assert (data_dir / "images" / image["id"]).read_bytes() == b"first"
    assert len(store_files(data_dir)) == 1


def test_upload_to_deactivated_image_is_409(client: TestClient, active_image: Any,
                                            upload: Upload) -> None:
    image = active_image()
    assert client.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    json_error(upload(image["id"], b"x"), 409)


@pytest.mark.parametrize("missing", [("disk_format",), ("container_format",),
                                     ("disk_format", "container_format")])
def test_upload_without_formats_is_400(client: TestClient, upload: Upload,
                                       missing: tuple[str, ...], data_dir: Path) -> None:
    body = {"disk_format": "raw", "container_format": "bare"}
    for key in missing:
        body.pop(key)
    image_id = client.post("/v2/images", json=body).json()["id"]
    message = json_error(upload(image_id, b"data"), 400)
    for key in missing:
        assert key in message
    assert show(client, image_id)["status"] == "queued"
    assert store_files(data_dir) == []


def test_upload_to_unknown_image_is_404(upload: Upload) -> None:
    json_error(upload("00000000-0000-0000-0000-000000000000", b"x"), 404)


def test_chunked_upload_without_content_length(client: TestClient, create_image: CreateImage) -> None:
    image = create_image()
    parts = [os.urandom(n) for n in (1, 65536, 3 << 20, 7, 9 << 20)]

    def body() -> Iterator[bytes]:
        yield from parts

    resp = client.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTET)
    assert "content-length" not in resp.request.headers
    assert resp.request.headers["transfer-encoding"] == "chunked"
    assert resp.status_code == 204
    data = b"".join(parts)
    got = show(client, image["id"])
    assert (got["size"], got["checksum"], got["os_hash_value"]) == (
        len(data), md5(data), sha512(data))


def test_empty_upload_gives_active_image_of_size_0(client: TestClient, create_image: CreateImage,
                                                   upload: Upload) -> None:
    image = create_image()
    resp = upload(image["id"], b"")
    assert resp.status_code == 204, resp.text
    got = show(client, image["id"])
    assert got["status"] == "active"
    assert got["size"] == 0
    assert got["checksum"] == md5(b"")
    assert got["os_hash_value"] == sha512(b"")
    download = client.get(f"/v2/images/{image['id']}/file")
    assert download.status_code == 200
    assert download.content == b""
    assert download.headers["content-length"] == "0"


@pytest.mark.parametrize("disk_format", ["qcow2", "vmdk", "vhd", "iso", "raw"])
def test_empty_upload_activates_any_disk_format(client: TestClient, create_image: CreateImage,
                                                upload: Upload, disk_format: str) -> None:
    """Nova snapshots a volume-backed instance as a zero-byte image (qcow2/bare by default)
    and activates it with an empty upload: there is nothing to inspect or refuse."""
    image = create_image(disk_format=disk_format, container_format="bare")
    resp = upload(image["id"], b"")
    assert resp.status_code == 204, resp.text
    got = show(client, image["id"])
    assert (got["status"], got["size"], got["disk_format"]) == ("active", 0, disk_format)


def test_zero_filled_upload_round_trips(client: TestClient, create_image: CreateImage,
                                        upload: Upload) -> None:
    # thin provisioning turns zero runs into holes; the bytes must still come back exactly
    data = b"head" + bytes(1 << 20) + b"middle" + bytes(3 << 17) + b"tail"
    image = create_image()
    assert upload(image["id"], data).status_code == 204
    assert client.get(f"/v2/images/{image['id']}/file").content == data
    assert show(client, image["id"])["checksum"] == md5(data)


def test_upload_of_qcow2_declared_raw_is_refused(client: TestClient, create_image: CreateImage,
                                                 upload: Upload, data_dir: Path) -> None:
    qcow2_header = b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(16) + (1 << 30).to_bytes(8, "big")
    data = qcow2_header + bytes(512 - len(qcow2_header)) + b"x" * 4096
    image = create_image(disk_format="raw")
    resp = upload(image["id"], data)
    assert resp.status_code in (400, 415), resp.text
    assert show(client, image["id"])["status"] == "queued"
    assert store_files(data_dir) == []


def test_concurrent_uploads_only_one_wins(settings: Any) -> None:
    """Two PUTs racing for one queued image: exactly one 204, the other 409."""
    async def second_put(c: Any, image_id: str) -> int:
        r = await c.put(f"/v2/images/{image_id}/file", content=b"other", headers=OCTET)
        return int(r.status_code)

    first, second, final = asyncio.run(_during_slow_upload(settings, second_put))
    assert [first, second] == [204, 409]
    assert final["status"] == "active"
    assert final["size"] == 2000


def test_delete_during_upload_gives_410_and_leaves_nothing(settings: Any, data_dir: Path) -> None:
    """Glance: an image deleted while its data streams in answers the upload 410 Gone."""
    async def delete(c: Any, image_id: str) -> int:
        return int((await c.delete(f"/v2/images/{image_id}")).status_code)

    uploaded, deleted, shown = asyncio.run(_during_slow_upload(settings, delete))
    assert (deleted, uploaded, shown) == (204, 410, {"status": 404})
    assert store_files(data_dir) == []


async def _during_slow_upload(settings: Any, meanwhile: Any) -> tuple[int, int, Any]:
    """Start an upload that stalls after its first KiB, run ``meanwhile(client, image_id)``,
    let the upload finish; return (upload status, meanwhile's status, the image or 404)."""
    import httpx

    from cowshed.api.app import create_app
    from tests.api.helpers import admin_token

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        token = admin_token(app.state.services)
        headers = {"X-Auth-Token": token} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers=headers) as c:
            image_id = (await c.post("/v2/images", json={
                "disk_format": "raw", "container_format": "bare"})).json()["id"]
            gate = asyncio.Event()

            async def slow() -> Any:
                yield b"a" * 1000
                await gate.wait()
                yield b"b" * 1000

            upload = asyncio.create_task(c.put(f"/v2/images/{image_id}/file",
                                               content=slow(), headers=OCTET))
            # the upload has started once the image is saving (a fixed sleep lost this race
            # on a loaded machine: the DELETE came first and the PUT answered 409)
            for _ in range(600):
                if (await c.get(f"/v2/images/{image_id}")).json()["status"] == "saving":
                    break
                await asyncio.sleep(0.05)
            other = await meanwhile(c, image_id)
            gate.set()
            uploaded = await upload
            shown = await c.get(f"/v2/images/{image_id}")
            final = shown.json() if shown.status_code == 200 else {"status": shown.status_code}
            return uploaded.status_code, other, final
