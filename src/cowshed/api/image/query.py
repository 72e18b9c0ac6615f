"""Parsing GET /v2/images query strings into an ImageQuery (Glance's rules and 400s)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from cowshed.config import Settings
from cowshed.domain.images import CONTAINER_FORMATS, DISK_FORMATS, ImageStatus
from cowshed.domain.query import Filter, ImageQuery
from cowshed.errors import InvalidRequest

_TIME_OPS = ("gt", "gte", "lt", "lte", "neq", "eq")
#: Glance's ``_available_sort_keys``: any other key is a 400 on the wire (the repository and
#: the CLI can sort by more).
API_SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
                 "created_at", "updated_at")
#: size columns are SQL BIGINT: a larger filter value cannot even be bound (OverflowError).
_MAX_BIGINT = 1 << 63
#: query parameters per list request; far above any real filter (128 properties, 128 tags).
_MAX_PARAMS = 300
#: values in one ``in:`` list (each is one SQL parameter).
_MAX_IN_ITEMS = 1000
_IN_COLUMNS = frozenset({"id", "name", "status", "container_format", "disk_format", "owner"})
_STRING_FILTERS = ("name", "owner", "checksum", "os_hash_value", "id", "container_format",
                   "disk_format", "status")
_CONTROL = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir", "member_status",
                      "visibility", "tag", "protected", "os_hidden", "size_min", "size_max",
                      "created_at", "updated_at"})


def parse_list_query(params: QueryParams, settings: Settings) -> ImageQuery:
    if "changes-since" in params:
        raise InvalidRequest("The 'changes-since' filter is not available on the v2 API.")
    if len(params.multi_items()) > _MAX_PARAMS:
        # each filter is one more AND: thousands of them overflow the SQL expression depth
        raise InvalidRequest(f"Too many query parameters (at most {_MAX_PARAMS}).")
    if any("\x00" in k or "\x00" in v for k, v in params.multi_items()):
        # no stored value holds a NUL (%00), and PostgreSQL cannot even compare one
        raise InvalidRequest("Query parameters must not contain NUL characters.")
    filters = [*_string_filters(params), *_bool_filters(params), *_size_filters(params),
               *_time_filters(params), *_visibility(params)]
    props = {k: v for k, v in params.items() if k not in _CONTROL and k not in _STRING_FILTERS}
    member_status = params.get("member_status", "accepted")
    if member_status not in ("pending", "accepted", "rejected", "all"):
        raise InvalidRequest(f"Invalid status value: {member_status}")
    sort = _sort(params)
    if len(sort) > len(API_SORT_KEYS):
        # the marker condition grows with the square of the number of sort keys
        raise InvalidRequest(f"Too many sort keys (at most {len(API_SORT_KEYS)}).")
    return ImageQuery(
        filters=tuple(filters), tags=tuple(params.getlist("tag")), properties=props,
        sort=sort, limit=_limit(params, settings), marker=params.get("marker"),
        member_status=member_status, visibility=params.get("visibility"),
    )


def _limit(params: QueryParams, settings: Settings) -> int:
    raw = params.get("limit")
    if raw is None:
        return settings.limit_param_default
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest("limit param must be an integer") from None
    if limit < 0:
        raise InvalidRequest("limit param must be positive")
    return min(limit, settings.api_limit_max)


def _sort(params: QueryParams) -> tuple[tuple[str, str], ...]:
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if "sort" in params:
        if keys or dirs:
            raise InvalidRequest("The sort and sort_key/sort_dir parameters cannot be mixed.")
        return tuple(_sort_item(item) for item in params["sort"].split(","))
    for d in dirs:
        if d not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid sort direction: {d}")
    if not keys:
        return (("created_at", dirs[0] if dirs else "desc"),)
    if len(dirs) > len(keys) or 1 < len(dirs) < len(keys):
        raise InvalidRequest("The number of sort_dir values must be 1 or match sort_key.")
    for key in keys:
        _check_sort_key(key)
    if len(dirs) <= 1:
        return tuple((k, dirs[0] if dirs else "desc") for k in keys)
    return tuple(zip(keys, dirs, strict=True))


def _sort_item(item: str) -> tuple[str, str]:
    key, _, direction = item.strip().partition(":")
    direction = direction or "desc"
    if direction not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid sort direction: {direction}")
    _check_sort_key(key)
    return key, direction


def _check_sort_key(key: str) -> None:
    if key not in API_SORT_KEYS:
        raise InvalidRequest(f"Invalid sort key: {key}. It must be one of the following: "
                             f"{', '.join(API_SORT_KEYS)}.")


def _string_filters(params: QueryParams) -> list[Filter]:
    out = []
    for column in _STRING_FILTERS:
        for value in params.getlist(column):
            if value.startswith("in:") and column in _IN_COLUMNS:
                items = [v.strip('"') for v in value[3:].split(",")]
                if len(items) > _MAX_IN_ITEMS:
                    raise InvalidRequest(f"Too many values for '{column}' (at most "
                                         f"{_MAX_IN_ITEMS}).")
                _check_enum(column, items)
                out.append(Filter(column, "in", items))
            else:
                _check_enum(column, [value])
                out.append(Filter(column, "eq", value))
    return out


def _check_enum(column: str, values: Sequence[str]) -> None:
    allowed = {"status": [s.value for s in ImageStatus], "disk_format": DISK_FORMATS,
               "container_format": CONTAINER_FORMATS}.get(column)
    for value in values:
        if allowed is not None and value not in allowed:
            raise InvalidRequest(f"Invalid {column} value: {value}")


def _bool_filters(params: QueryParams) -> list[Filter]:
    out = []
    for column in ("protected", "os_hidden"):
        raw = params.get(column)
        if raw is None:
            if column == "os_hidden":
                out.append(Filter("os_hidden", "eq", False))
            continue
        if raw.lower() not in ("true", "false"):
            raise InvalidRequest(f"Invalid value '{raw}' for '{column}': must be true or false")
        out.append(Filter(column, "eq", raw.lower() == "true"))
    return out


def _size_filters(params: QueryParams) -> list[Filter]:
    out = []
    for name, op in (("size_min", "gte"), ("size_max", "lte")):
        raw = params.get(name)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(f"Invalid value '{raw}' for '{name}': must be an integer") from None
        if not 0 <= value < _MAX_BIGINT:
            raise InvalidRequest(f"'{name}' must be between 0 and {_MAX_BIGINT - 1}")
        out.append(Filter("size", op, value))
    return out


def _time_filters(params: QueryParams) -> list[Filter]:
    out = []
    for column in ("created_at", "updated_at"):
        for raw in params.getlist(column):
            op, sep, stamp = raw.partition(":")
            if not sep or op not in _TIME_OPS:
                op, stamp = "eq", raw
            out.append(Filter(column, op, _parse_time(column, stamp)))
    return out


def _parse_time(column: str, stamp: str) -> datetime:
    try:
        value = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"Invalid time format for '{column}': {stamp}") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise InvalidRequest(f"Time out of range for '{column}': {stamp}") from None
    return value


def _visibility(params: QueryParams) -> list[Filter]:
    raw = params.get("visibility")
    if raw is None or raw == "all":
        return []
    if raw not in ("public", "private", "shared", "community"):
        raise InvalidRequest(f"Invalid visibility value: {raw}")
    return [Filter("visibility", "eq", raw)]
