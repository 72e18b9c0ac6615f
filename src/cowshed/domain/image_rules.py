"""Validation of client-supplied image attributes (Glance's image schema, as rules)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from cowshed.domain.images import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    READ_ONLY,
    Visibility,
    is_reserved,
)
from cowshed.errors import Forbidden, InvalidRequest

UUID_RE = re.compile(
    r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
MAX_INT32 = 2**31 - 1


def check_writable(name: str, *, creating: bool = False) -> None:
    """Raise Forbidden if a client may not set attribute ``name``."""
    if creating and name == "id":
        return
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if is_reserved(name):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def validate_value(name: str, value: object) -> object:
    """Check ``value`` against the image schema for ``name``; returns the value to store."""
    validator = _VALIDATORS.get(name)
    if validator is not None:
        return validator(name, value)
    return _extra_property(name, value)


def _bad(name: str, value: object, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value {value!r} for '{name}': {expected}")


def _nullable_str(name: str, value: object, limit: int = 255) -> object:
    if value is not None and not isinstance(value, str):
        raise _bad(name, value, "must be a string or null")
    if isinstance(value, str) and len(value) > limit:
        raise _bad(name, value[:20] + "…", f"is longer than {limit} characters")
    return value


def _bool(name: str, value: object) -> object:
    if not isinstance(value, bool):
        raise _bad(name, value, "must be a boolean")
    return value


def _non_negative(name: str, value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT32:
        raise _bad(name, value, "must be an integer between 0 and 2147483647")
    return value


def _visibility(name: str, value: object) -> object:
    # a JSON object or array is unhashable: test the type before set membership (was a 500)
    if not isinstance(value, str) or value not in {v.value for v in Visibility}:
        raise _bad(name, value, "must be one of public, private, shared, community")
    return Visibility(str(value))


def _enum(allowed: tuple[str, ...]) -> Callable[[str, object], object]:
    def check(name: str, value: object) -> object:
        if value is not None and value not in allowed:
            raise _bad(name, value, f"must be null or one of {', '.join(allowed)}")
        return value
    return check


def _tags(name: str, value: object) -> object:
    if not isinstance(value, list):
        raise _bad(name, value, "must be a list of strings")
    for tag in value:
        validate_tag(tag)
    # stored as a set and listed in order, so every response shows the same order
    return tuple(sorted(set(value)))


def validate_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > 255:
        raise InvalidRequest(f"Invalid tag {tag!r}: tags are strings of 1 to 255 characters")
    return tag


def _extra_property(name: str, value: object) -> object:
    if not name or len(name) > 255:
        raise InvalidRequest(f"Property name {name[:40]!r} must be 1 to 255 characters")
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid value for property '{name}': additional properties must be strings")
    if len(value) > 65535:
        raise InvalidRequest(f"Value of property '{name}' is too long")
    return value


def validate_id(value: object) -> str:
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise InvalidRequest(f"Invalid image id {value!r}: it must be a UUID")
    # kept as given, like Glance: the id a client chose is the id it fetches again.
    return value


_VALIDATORS: Mapping[str, Callable[[str, object], object]] = {
    "name": _nullable_str,
    "owner": _nullable_str,
    "visibility": _visibility,
    "protected": _bool,
    "os_hidden": _bool,
    "min_ram": _non_negative,
    "min_disk": _non_negative,
    "disk_format": _enum(DISK_FORMATS),
    "container_format": _enum(CONTAINER_FORMATS),
    "tags": _tags,
}
