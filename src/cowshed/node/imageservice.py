"""A small client for any Glance-compatible Image API v2 endpoint (cowshed's own included).

Only what a hypervisor needs: show an image (with its locations, when the service exposes
them), stream its data, create a snapshot image and upload its data, add a location, delete.
HTTP errors become the cowshed error tree here, once: 404 → NotFound, 401/403 → Forbidden,
409 → Conflict, 413 → StorageFull, 415 → UnsafeImage, other 4xx → InvalidRequest, 5xx and
network errors → BackendUnavailable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cowshed.errors import (
    BackendUnavailable,
    Conflict,
    CowshedError,
    Forbidden,
    InvalidRequest,
    NotFound,
    StorageFull,
    UnsafeImage,
)

#: bytes per read while streaming image data in either direction.
CHUNK = 8 << 20
#: Image API fields that are not properties (everything else in a show body is one).
_CORE = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "min_ram", "min_disk", "owner", "size", "virtual_size", "container_format",
    "disk_format", "created_at", "updated_at", "tags", "direct_url", "locations", "self", "file",
    "schema", "stores",
})


@dataclass(frozen=True)
class ImageMeta:
    """What the node needs to know about an image."""

    id: str
    name: str | None
    status: str
    disk_format: str | None
    container_format: str | None
    size: int | None
    virtual_size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    min_disk: int
    #: location URLs: ``locations[].url`` when shown, else ``direct_url`` (may be empty).
    locations: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)


def _meta(body: Mapping[str, Any]) -> ImageMeta:
    urls = [str(loc.get("url")) for loc in body.get("locations") or () if loc.get("url")]
    if not urls and body.get("direct_url"):
        urls = [str(body["direct_url"])]
    return ImageMeta(
        id=str(body["id"]), name=body.get("name"), status=str(body.get("status")),
        disk_format=body.get("disk_format"), container_format=body.get("container_format"),
        size=body.get("size"), virtual_size=body.get("virtual_size"),
        checksum=body.get("checksum"), os_hash_algo=body.get("os_hash_algo"),
        os_hash_value=body.get("os_hash_value"), min_disk=int(body.get("min_disk") or 0),
        locations=tuple(urls),
        properties={k: str(v) for k, v in body.items() if k not in _CORE},
    )


class ImageServiceClient:
    """One HTTP connection pool to ``base_url`` (the endpoint as in a catalog, no ``/v2``)."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 60.0) -> None:
        if not base_url:
            raise InvalidRequest("node.image_service_url is not set")
        headers = {"X-Auth-Token": token} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def show(self, image_id: str) -> ImageMeta:
        body = self._json("GET", f"/v2/images/{image_id}", what=f"image {image_id}")
        return _meta(body)

    def download(self, image_id: str) -> Iterator[bytes]:
        """Yield the image's bytes in large chunks; errors are raised before the first chunk."""
        what = f"data of image {image_id}"
        request = self._http.build_request("GET", f"/v2/images/{image_id}/file")
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"image service unreachable ({what}): {exc}") from exc
        if response.status_code == 204:
            response.close()
            raise NotFound(f"image {image_id} has no data")
        if response.status_code >= 300:
            response.read()
            response.close()
            raise _error(response, what)
        return self._chunks(response, what)

    @staticmethod
    def _chunks(response: httpx.Response, what: str) -> Iterator[bytes]:
        try:
            yield from response.iter_raw(CHUNK) if _identity(response) else (
                response.iter_bytes(CHUNK)
            )
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"image service stream broke ({what}): {exc}") from exc
        finally:
            response.close()

    def create(self, body: Mapping[str, object]) -> ImageMeta:
        return _meta(self._json("POST", "/v2/images", json=dict(body), what="new image"))

    def upload(self, image_id: str, path: Path) -> None:
        """PUT the file's bytes as the image data (Content-Length given, streamed)."""
        size = path.stat().st_size
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._send("PUT", f"/v2/images/{image_id}/file", what=f"upload of {image_id}",
                   content=_file_chunks(path), headers=headers)

    def add_location(self, image_id: str, url: str,
                     validation: Mapping[str, str] | None = None) -> None:
        """Register data placed in the service's store (Image API 2.17 ``POST …/locations``);
        the service checks it and turns the image active asynchronously (202)."""
        body: dict[str, object] = {"url": url}
        if validation:
            body["validation_data"] = dict(validation)
        self._send("POST", f"/v2/images/{image_id}/locations", what=f"location of {image_id}",
                   json=body)

    def delete(self, image_id: str) -> None:
        self._send("DELETE", f"/v2/images/{image_id}", what=f"image {image_id}")

    def _json(self, method: str, url: str, *, what: str, json: object = None) -> dict[str, Any]:
        response = self._send(method, url, what=what, json=json)
        try:
            body = response.json()
        except ValueError:
            raise BackendUnavailable(f"image service sent no JSON for {what}") from None
        if not isinstance(body, dict):
            raise BackendUnavailable(f"image service sent unexpected JSON for {what}")
        return body

    def _send(self, method: str, url: str, *, what: str, json: object = None,
              content: Any = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        try:
            response = self._http.request(method, url, json=json, content=content,
                                          headers=headers)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"image service unreachable ({what}): {exc}") from exc
        if response.status_code >= 300:
            raise _error(response, what)
        return response


def _identity(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity") in ("", "identity")


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            yield block


def _error(response: httpx.Response, what: str) -> CowshedError:
    return error_for(response, what, "image service")


def error_for(response: httpx.Response, what: str, service: str) -> CowshedError:
    """The cowshed error for an HTTP error answer of an OpenStack-style service."""
    code = response.status_code
    detail = _detail(response)
    message = f"{service} answered {code} for {what}" + (f": {detail}" if detail else "")
    if code == 404:
        return NotFound(message)
    if code in (401, 403):
        return Forbidden(message)
    if code == 409:
        return Conflict(message)
    if code == 413:
        return StorageFull(message)
    if code == 415:
        return UnsafeImage(message)
    if 400 <= code < 500:
        return InvalidRequest(message)
    return BackendUnavailable(message)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        for key in ("message", "title"):
            if isinstance(body.get(key), str):
                return str(body[key])[:300]
        for value in body.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:300]
    return ""
