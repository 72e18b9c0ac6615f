"""Helpers shared by the handlers: JSON bodies with limits, thread hops, service access."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from cowshed.errors import InvalidRequest, StorageFull, UnsupportedMediaType
from cowshed.services.app import Services

T = TypeVar("T")
#: JSON request bodies larger than this are refused (413): metadata is small.
MAX_JSON_BODY = 1 << 20
#: nesting deeper than this is refused (400) before the parser can recurse too far.
MAX_JSON_DEPTH = 32


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def call(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking service code off the event loop, in the services' blocking pool (the app
    installs it as the loop's default executor; context variables go along)."""
    return await asyncio.to_thread(fn, *args)


async def read_json(request: Request, *, require_json_type: bool = True) -> Any:
    """Read and decode a JSON body with size and depth limits.

    A body over MAX_JSON_BODY is refused (413) as soon as its Content-Length or its bytes
    say so; decoding and checking run in a worker thread, so a large or deep body never
    holds the event loop (and with it every other request).
    """
    if require_json_type:
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if kind and kind != "application/json":
            raise UnsupportedMediaType(f"Unsupported Content-Type {kind!r}; use application/json")
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and (len(declared) > 12 or int(declared) > MAX_JSON_BODY):
        raise StorageFull(f"Request body is larger than {MAX_JSON_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise StorageFull(f"Request body is larger than {MAX_JSON_BODY} bytes")
    return await call(decode_json, bytes(body))


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise InvalidRequest("Malformed JSON in request body: the body is empty.")
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth(body) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"JSON nesting deeper than {MAX_JSON_DEPTH} levels is not accepted.")
    try:
        # strict UTF-8: json.loads(bytes) would let encoded surrogates through ("surrogatepass")
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"Malformed JSON in request body: {exc}") from None
    try:
        # a "\ud800" escape decodes to a lone surrogate, which no database can store
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest("Malformed JSON in request body: lone surrogate escape") from None
    if _has_nul(value):
        # a "\u0000" escape: PostgreSQL text cannot hold NUL, and no field needs one
        raise InvalidRequest("Malformed JSON in request body: NUL character in a string")
    return value


def _has_nul(value: Any) -> bool:
    """True if a NUL is in any string (key or value) of a decoded JSON document."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    return False


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _depth(body: bytes) -> int:
    """Deepest bracket nesting outside JSON strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
