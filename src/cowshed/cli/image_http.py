"""``cowshed image …`` against a running server: the Image API v2 over HTTP (httpx).

The same :class:`~cowshed.cli.image_ops.ImageOps` as the library door, so each command runs
unchanged either way; answers are turned into the same records, and HTTP errors into the same
error tree (the server's message, one line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cowshed import errors as e
from cowshed.cli.image_ops import IMAGE_FIELDS, Advance
from cowshed.cli.output import Record

#: bytes read from a file per upload chunk (the library's block size, services.ingest; not
#: imported from there, which would load the format inspector into every HTTP command).
BLOCK_SIZE = 8 << 20
#: body keys of an image that are links or location details, not properties.
_NOT_PROPERTIES = frozenset({"self", "file", "schema", "direct_url", "locations"})
_PATCH = "application/openstack-images-v2.1-json-patch"
#: HTTP status → the error the library would have raised.
_ERRORS: dict[int, type[e.CowshedError]] = {
    400: e.InvalidRequest, 401: e.Unauthorized, 403: e.Forbidden, 404: e.NotFound,
    409: e.Conflict, 410: e.Gone, 413: e.StorageFull, 415: e.UnsafeImage,
    416: e.InvalidRequest, 429: e.TooManyRequests, 503: e.BackendUnavailable,
}


def record_from_api(body: dict[str, Any]) -> Record:
    """An API image body as a CLI record (extra keys become ``properties``)."""
    record: Record = {key: body.get(key) for key in IMAGE_FIELDS}
    record["tags"] = sorted(body.get("tags") or [])
    stores = body.get("stores") or ""
    record["stores"] = [s for s in str(stores).split(",") if s]
    record["properties"] = {k: v for k, v in body.items()
                            if k not in IMAGE_FIELDS and k not in _NOT_PROPERTIES}
    return record


def task_from_api(body: dict[str, Any]) -> Record:
    keys = ("id", "type", "status", "image_id", "owner", "message", "input", "result",
            "created_at", "updated_at", "expires_at")
    return {key: body.get(key) for key in keys}


def member_from_api(body: dict[str, Any]) -> Record:
    keys = ("image_id", "member_id", "status", "created_at", "updated_at")
    return {key: body.get(key) for key in keys}


class RemoteImages:
    """The Image API at ``url`` (with or without ``/v2``), with ``token`` if given."""

    def __init__(self, url: str, token: str | None = None) -> None:
        base = url.rstrip("/")
        base = base.removesuffix("/v2")
        self.where = base
        headers = {"Accept": "application/json", "User-Agent": "cowshed-cli"}
        if token:
            headers["X-Auth-Token"] = token
        self.http = httpx.Client(base_url=base, headers=headers,
                                 timeout=httpx.Timeout(60.0, read=3600.0))

    # -- records ---------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> Record:
        return record_from_api(self._json("POST", "/v2/images", json=body))

    def get(self, image_id: str) -> Record:
        return record_from_api(self._json("GET", f"/v2/images/{image_id}"))

    def list_images(self, filters: dict[str, str], sort: str, limit: int | None) -> list[Record]:
        """Follows ``next`` links until ``limit`` images (None: all) are in."""
        params: dict[str, str | int] = {**filters, "sort": sort}
        path: str | None = "/v2/images"
        found: list[Record] = []
        while path is not None and (limit is None or len(found) < limit):
            if limit is not None:
                params["limit"] = limit - len(found)
            page = self._json("GET", path, params=params)
            found.extend(record_from_api(b) for b in page.get("images", []))
            path, params = page.get("next"), {}
        return found[:limit] if limit is not None else found

    def update(self, image_id: str, ops: list[dict[str, Any]]) -> Record:
        body = self._json("PATCH", f"/v2/images/{image_id}", content=json.dumps(ops),
                          headers={"Content-Type": _PATCH})
        return record_from_api(body)

    def delete(self, image_id: str) -> None:
        self._call("DELETE", f"/v2/images/{image_id}")

    def add_tag(self, image_id: str, tag: str) -> None:
        self._call("PUT", f"/v2/images/{image_id}/tags/{_segment(tag)}")

    def remove_tag(self, image_id: str, tag: str) -> None:
        self._call("DELETE", f"/v2/images/{image_id}/tags/{_segment(tag)}")

    def deactivate(self, image_id: str) -> None:
        self._call("POST", f"/v2/images/{image_id}/actions/deactivate")

    def reactivate(self, image_id: str) -> None:
        self._call("POST", f"/v2/images/{image_id}/actions/reactivate")

    # -- data ------------------------------------------------------------------------------

    def upload(self, image_id: str, path: Path, store: str | None, advance: Advance) -> Record:
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Length": str(path.stat().st_size)}
        if store:
            headers["X-Image-Meta-Store"] = store
        self._call("PUT", f"/v2/images/{image_id}/file", content=_blocks(path, advance),
                   headers=headers)
        return self.get(image_id)

    def stage(self, image_id: str, path: Path, advance: Advance) -> None:
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Length": str(path.stat().st_size)}
        self._call("PUT", f"/v2/images/{image_id}/stage", content=_blocks(path, advance),
                   headers=headers)

    def start_import(self, image_id: str, body: dict[str, Any]) -> None:
        self._call("POST", f"/v2/images/{image_id}/import", json=body)

    def read(self, image_id: str, offset: int) -> Iterator[bytes]:
        """The data from ``offset`` on (an HTTP Range request when offset > 0)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._send_stream("GET", f"/v2/images/{image_id}/file", headers) as resp:
            if resp.status_code == 204:
                raise e.NotFound(f"Image {image_id} has no data")
            if offset and resp.status_code != 206:
                raise e.InvalidRequest(f"{self.where} ignored the range request; download "
                                       f"again without --resume")
            try:
                yield from resp.iter_bytes(1 << 20)
            except httpx.TransportError as exc:
                raise e.BackendUnavailable(
                    f"the download from {self.where} broke off: {exc or type(exc).__name__}"
                ) from exc

    # -- discovery -------------------------------------------------------------------------

    def stores(self) -> list[Record]:
        try:
            found = self._json("GET", "/v2/info/stores/detail")["stores"]
        except e.Forbidden:  # the detail needs admin: fall back to the names
            found = self._json("GET", "/v2/info/stores")["stores"]
        return [{"id": s["id"], "description": s.get("description"),
                 "default": str(s.get("default", "")).lower() == "true", "type": s.get("type"),
                 "weight": s.get("weight")} for s in found]

    def tasks(self, image_id: str) -> list[Record]:
        return [task_from_api(t) for t in
                self._json("GET", f"/v2/images/{image_id}/tasks").get("tasks", [])]

    def all_tasks(self) -> list[Record]:
        found: list[Record] = []
        path: str | None = "/v2/tasks"
        while path is not None:
            page = self._json("GET", path)
            found.extend(task_from_api(t) for t in page.get("tasks", []))
            path = page.get("next")
        return found

    def task(self, task_id: str) -> Record:
        return task_from_api(self._json("GET", f"/v2/tasks/{task_id}"))

    def members(self, image_id: str) -> list[Record]:
        found = self._json("GET", f"/v2/images/{image_id}/members").get("members", [])
        return [member_from_api(m) for m in found]

    def add_member(self, image_id: str, member_id: str) -> Record:
        return member_from_api(self._json("POST", f"/v2/images/{image_id}/members",
                                          json={"member": member_id}))

    def set_member(self, image_id: str, member_id: str, status: str) -> Record:
        return member_from_api(self._json(
            "PUT", f"/v2/images/{image_id}/members/{_segment(member_id)}",
            json={"status": status}))

    def remove_member(self, image_id: str, member_id: str) -> None:
        self._call("DELETE", f"/v2/images/{image_id}/members/{_segment(member_id)}")

    def close(self) -> None:
        self.http.close()

    # -- HTTP ------------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self._call(method, path, **kwargs).json()
        return body

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        _raise_for(resp)
        return resp

    def _send_stream(self, method: str, path: str, headers: dict[str, str],
                     ) -> _Stream:
        return _Stream(self, method, path, headers)

    def _unreachable(self, exc: httpx.TransportError) -> e.BackendUnavailable:
        return e.BackendUnavailable(
            f"cannot reach the image API at {self.where}: {exc or type(exc).__name__}; is "
            f"`cowshed serve` running there, and is --os-image-url right?")


class _Stream:
    """``with``: a streamed response whose errors are raised as CowshedErrors."""

    def __init__(self, remote: RemoteImages, method: str, path: str,
                 headers: dict[str, str]) -> None:
        self._remote, self._args = remote, (method, path, headers)
        self._resp: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        method, path, headers = self._args
        try:
            self._resp = self._remote.http.send(
                self._remote.http.build_request(method, path, headers=headers), stream=True)
        except httpx.TransportError as exc:
            raise self._remote._unreachable(exc) from exc
        if self._resp.status_code >= 400:
            self._resp.read()
            _raise_for(self._resp)
        return self._resp

    def __exit__(self, *exc: object) -> None:
        if self._resp is not None:
            self._resp.close()


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        message = str(resp.json().get("message") or resp.reason_phrase)
    except ValueError:
        message = resp.text.strip() or resp.reason_phrase
    cls = _ERRORS.get(resp.status_code, e.CowshedError)
    raise cls(" ".join(message.split()))


def _segment(value: str) -> str:
    return quote(value, safe="")


def _blocks(path: Path, advance: Advance) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as fh:
        while block := fh.read(BLOCK_SIZE):
            advance(len(block))
            yield block
