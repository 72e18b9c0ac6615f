"""JSON-patch parsing for PATCH /v2/images/{id} (both Glance media types, exact semantics)."""

from __future__ import annotations

from cowshed.errors import InvalidRequest, UnsupportedMediaType
from cowshed.services.images.service import PatchOp

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
_OPS = ("add", "remove", "replace")


def media_type(content_type: str) -> bool:
    """True for the legacy v2.0 media type; UnsupportedMediaType (415) for anything else."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == PATCH_V21:
        return False
    if kind == PATCH_V20:
        return True
    raise UnsupportedMediaType(
        f"Unsupported Content-Type {kind or '(none)'!r}", accept=(PATCH_V21, PATCH_V20)
    )


def parse_patch(body: object, legacy: bool) -> list[PatchOp]:
    """Turn a decoded JSON body into PatchOps; InvalidRequest (400) on any malformation."""
    if not isinstance(body, list):
        raise InvalidRequest("Request body must be a JSON array of operation objects.")
    return [_parse_op(raw, legacy) for raw in body]


def _parse_op(raw: object, legacy: bool) -> PatchOp:
    if not isinstance(raw, dict):
        raise InvalidRequest("Operations must be JSON objects.")
    if legacy:
        keys = [k for k in _OPS if k in raw]
        if len(keys) != 1:
            raise InvalidRequest("Operation objects must contain exactly one of add, remove, replace.")
        op, path = keys[0], raw[keys[0]]
    else:
        op, path = str(raw.get("op")), raw.get("path")
        if op not in _OPS:
            raise InvalidRequest(f"Invalid operation: {op!r}. Supported: add, remove, replace.")
    if op != "remove" and "value" not in raw:
        raise InvalidRequest(f"Operation \"{op}\" requires a member named \"value\".")
    if op == "remove" and "value" in raw:
        raise InvalidRequest("Operation \"remove\" must not have a member named \"value\".")
    name = _pointer(path, op)
    return PatchOp(op=op, path=name, value=raw.get("value"), legacy=legacy)


def _pointer(path: object, op: str) -> str:
    if not isinstance(path, str):
        raise InvalidRequest("Operation objects must contain a string member named \"path\".")
    if not path.startswith("/"):
        raise InvalidRequest(f"Pointer `{path}` does not start with \"/\".")
    if "//" in path:
        raise InvalidRequest(f"Pointer `{path}` contains adjacent \"/\".")
    if len(path) > 1 and path.endswith("/"):
        raise InvalidRequest(f"Pointer `{path}` end with \"/\".")
    parts = [_unescape(p, path) for p in path[1:].split("/")]
    if not parts[0]:
        raise InvalidRequest("Pointer `/` names no attribute.")
    depth = len(parts)
    if parts[0] == "locations":
        allowed = 1 if op == "replace" else 2
        if depth != allowed:
            raise InvalidRequest(f"Invalid path depth for `{path}`.")
        return "locations"
    if depth != 1:
        raise InvalidRequest(f"Nested paths are not allowed: `{path}`.")
    return parts[0]


def _unescape(part: str, path: str) -> str:
    out = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "~":
            nxt = part[i + 1 : i + 2]
            if nxt not in ("0", "1"):
                raise InvalidRequest(
                    f"Pointer `{path}` contains \"~\" not part of a recognized escape sequence."
                )
            out.append("~" if nxt == "0" else "/")
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
