"""Request bodies: Cinder's envelope checks and the field validators of its JSON schemas
(``cinder/api/validation/parameter_types.py``), with its messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from cowshed.api.common import read_json
from cowshed.errors import InvalidRequest

#: Cinder's ``MAX_INT`` bound on sizes (GiB).
MAX_SIZE = 0x7FFFFFFF
MAX_NAME = 255


async def envelope(request: Request, key: str) -> dict[str, Any]:
    """The object under ``key`` of a JSON body; 400 when the body or the key is missing."""
    body = await read_json(request)
    if not isinstance(body, dict) or key not in body:
        raise InvalidRequest(f"Missing required element '{key}' in request body.")
    inner = body[key]
    if not isinstance(inner, dict):
        raise InvalidRequest(f"Invalid input for field/attribute {key}. Value: {inner!r}. "
                             f"{inner!r} is not of type 'object'")
    return inner


async def action(request: Request) -> tuple[str, Any]:
    """The one ``{"os-action": {...}}`` pair of an action body (Cinder's ``action_peek``)."""
    try:
        body = await read_json(request)
    except InvalidRequest:
        raise InvalidRequest("Malformed request body") from None
    if not isinstance(body, dict) or len(body) != 1:
        raise InvalidRequest("Malformed request body")
    name, value = next(iter(body.items()))
    return name, value


def size(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """A size in GiB: an integer or a digit string, 1 ≤ size ≤ MAX_SIZE."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"{value!r} is not of type 'integer', 'string'")
    number: int
    if isinstance(value, str):
        if not value.isdecimal() or not value.isascii():
            raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                                 f"'{value}' does not match '^[0-9]+$'")
        number = int(value)
    else:
        number = value
    if number < 1:
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"{number} is less than the minimum of 1")
    if number > MAX_SIZE:
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"{value} is greater than the maximum of {MAX_SIZE}")
    return number


def text(name: str, value: Any, *, limit: int = MAX_NAME) -> str | None:
    """An optional string of at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"{value!r} is not of type 'string', 'null'")
    if len(value) > limit:
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"'{value}' is too long")
    return value


def boolean(name: str, value: Any, default: bool = False) -> bool:
    """A boolean, or one of the strings Cinder's ``boolean`` parameter type accepts."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on", "t", "y"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off", "f", "n"}:
        return False
    raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                         f"{value!r} is not a valid boolean")


def metadata(name: str, value: Any) -> Mapping[str, str] | None:
    """Metadata: string keys (1-255 characters) to string values (≤ 255)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"{value!r} is not of type 'object'")
    for key, item in value.items():
        if not key or len(key) > MAX_NAME:
            raise InvalidRequest(f"Invalid input for field/attribute {name}: metadata keys "
                                 f"must be 1 to {MAX_NAME} characters long")
        if not isinstance(item, str) or len(item) > MAX_NAME:
            raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {item!r}. "
                                 f"Metadata values must be strings of at most {MAX_NAME} "
                                 "characters")
    return dict(value)
