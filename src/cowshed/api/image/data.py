"""Handlers for image data: PUT/GET /v2/images/{id}/file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cowshed.api.auth import request_context
from cowshed.api.common import call, services
from cowshed.api.streams import checked_body
from cowshed.errors import InvalidRequest, RangeNotSatisfiable, UnsupportedMediaType
from cowshed.services.images.data import DownloadPlan

_DIGITS = re.compile(r"^[0-9]+$")
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
_CONTENT_RANGE = re.compile(r"^bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)$")
_READ = 1 << 20
#: stands for any number too long to be a byte offset (int() refuses over 4300 digits).
_HUGE = 1 << 63


def _number(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) < 19 else _HUGE


def _int_header(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    if not _DIGITS.match(raw.strip()):
        raise InvalidRequest(f"Invalid {name} header: {raw!r}")
    return _number(raw.strip())


def upload_size(request: Request) -> int | None:
    """The promised size: x-openstack-image-size, else Content-Length; 400 if they disagree."""
    declared = _int_header(request, "x-openstack-image-size")
    length = _int_header(request, "content-length")
    if declared is not None and length is not None and declared != length:
        raise InvalidRequest(
            f"x-openstack-image-size ({declared}) does not match Content-Length ({length})"
        )
    return declared if declared is not None else length


def require_octet_stream(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/octet-stream":
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {kind or '(none)'!r}; use application/octet-stream"
        )


async def request_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk


async def upload(request: Request) -> Response:
    require_octet_stream(request)
    svc = services(request)
    size = upload_size(request)
    store = request.headers.get("x-image-meta-store")
    if store is not None and not svc.settings.multistore:
        raise InvalidRequest("X-Image-Meta-Store needs multiple stores to be enabled")
    await svc.data.upload(request_context(request), request.path_params["image_id"],
                          request_body(request), size, store)
    return Response(status_code=204)


def parse_range(request: Request) -> tuple[tuple[int, int | None] | None, int | None]:
    """(byte_range, suffix) from Range (or the legacy Content-Range request header)."""
    raw = request.headers.get("range")
    if raw is None:
        legacy = request.headers.get("content-range")
        if legacy is None:
            return None, None
        match = _CONTENT_RANGE.match(legacy.strip())
        if not match or _number(match[2]) < _number(match[1]):
            raise RangeNotSatisfiable("Invalid Content-Range header", 0)
        return (_number(match[1]), _number(match[2])), None
    raw = raw.strip()
    if "," in raw:
        raise InvalidRequest("Multiple ranges are not supported")
    match = _RANGE.match(raw)
    if not match or (not match[1] and not match[2]):
        raise RangeNotSatisfiable("Invalid Range header", 0)
    if not match[1]:
        return None, _number(match[2])
    first = _number(match[1])
    last = _number(match[2]) if match[2] else None
    if last is not None and last < first:
        raise RangeNotSatisfiable("Invalid Range header", 0)
    return (first, last), None


def _prefer(request: Request) -> list[str]:
    raw = request.query_params.get("prefer")
    if raw is None:
        return []
    svc = services(request)
    if not svc.settings.multistore:
        raise InvalidRequest("The prefer parameter needs multiple stores to be enabled")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        svc.deps.stores.get(name)
    return names


async def download(request: Request) -> Response:
    svc = services(request)
    try:
        byte_range, suffix = parse_range(request)
    except InvalidRequest:
        # Glance reads Range after finding the image: a missing (or hidden) image is still
        # a 404 (or 403), whatever its Range header says
        await call(svc.images.get, request_context(request), request.path_params["image_id"])
        raise
    prefer = _prefer(request)
    plan = await call(svc.data.plan_download, request_context(request),
                      request.path_params["image_id"], byte_range, prefer, suffix)
    if plan is None:
        return Response(status_code=204)
    chunks = await call(plan.blocks, _READ)
    return _stream(plan, chunks, partial=byte_range is not None or suffix is not None)


def _stream(plan: DownloadPlan, chunks: Iterator[bytes], partial: bool) -> Response:
    headers = {"Content-Length": str(plan.length)}
    if plan.image.checksum:
        headers["Content-MD5"] = plan.image.checksum
    status = 200
    if partial:
        status = 206
        last = plan.offset + plan.length - 1
        headers["Content-Range"] = f"bytes {plan.offset}-{last}/{plan.size}"
    body = checked_body(chunks, plan.length, f"download of image {plan.image.id}")
    return StreamingResponse(body, status_code=status,
                             headers=headers, media_type="application/octet-stream")
