"""Property tests for GET /v2/images query parsing (api/image/query.py).

Invariants: any query string (keys from the real vocabulary and beyond, values of any text)
gives an ImageQuery or an InvalidRequest (400), never another exception; a valid query spelled
with ``sort=k:d,…`` and the same one spelled with ``sort_key``/``sort_dir`` parse to the same
record; limits are clamped, filters and time operators round-trip. Pages and markers against a
real database are checked in tests/api/test_list_patch_properties.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from cowshed.api.image.query import API_SORT_KEYS, parse_list_query
from cowshed.api.image.tasks import MAX_LIMIT as TASK_MAX_LIMIT
from cowshed.api.image.tasks import parse_task_query
from cowshed.config import Settings
from cowshed.domain.images import CONTAINER_FORMATS, DISK_FORMATS
from cowshed.domain.query import Filter, ImageQuery
from cowshed.domain.tasks import TASK_SORT_KEYS
from cowshed.errors import InvalidRequest

CI = settings(derandomize=True, database=None, deadline=None, max_examples=150)
SETTINGS = Settings(data_dir=Path("/nonexistent"))  # only the limits are read
KEYS = ["limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "visibility", "tag",
        "protected", "os_hidden", "size_min", "size_max", "created_at", "updated_at", "name",
        "owner", "checksum", "os_hash_value", "id", "container_format", "disk_format", "status",
        "changes-since", "hw_disk_bus", "x"]
VALUES = ["", "1", "-1", "0", "25", "1001", "true", "False", "asc", "desc", "name", "size:asc",
          "name:desc,id", "in:a,b", 'in:"raw",qcow2', "raw", "bare", "active", "all", "public",
          "gt:2024-01-01T00:00:00Z", "2024-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00",
          "lte:9999-12-31T23:59:59", "neq:x", "9223372036854775808", "\x00", "²", ",", ":"]
values = st.sampled_from(VALUES) | st.text(max_size=30)
pairs = st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=8), values), max_size=8)
sort_specs = st.lists(st.tuples(st.sampled_from(API_SORT_KEYS), st.sampled_from(["asc", "desc"])),
                      min_size=1, max_size=4, unique_by=lambda kd: kd[0])
stamps = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1)).map(
    lambda d: d.replace(microsecond=0))


def parse(items: list[tuple[str, str]]) -> ImageQuery:
    return parse_list_query(QueryParams(urlencode(items)), SETTINGS)


@settings(CI, max_examples=400)
@given(items=pairs)
def test_any_query_parses_or_is_a_400(items: list[tuple[str, str]]) -> None:
    try:
        query = parse(items)
    except InvalidRequest:
        return
    assert 0 <= query.limit <= SETTINGS.api_limit_max
    assert all(k in API_SORT_KEYS and d in ("asc", "desc") for k, d in query.sort)
    assert query.member_status in ("pending", "accepted", "rejected", "all")


@CI
@given(spec=sort_specs)
def test_sort_spellings_agree(spec: list[tuple[str, str]]) -> None:
    combined = parse([("sort", ",".join(f"{k}:{d}" for k, d in spec))])
    classic = parse([*(("sort_key", k) for k, _ in spec), *(("sort_dir", d) for _, d in spec)])
    assert combined.sort == classic.sort == tuple(spec)


@CI
@given(keys=st.lists(st.sampled_from(API_SORT_KEYS), min_size=1, max_size=4, unique=True),
       direction=st.sampled_from(["asc", "desc", None]))
def test_one_direction_applies_to_every_key(keys: list[str], direction: str | None) -> None:
    items = [("sort_key", k) for k in keys] + ([("sort_dir", direction)] if direction else [])
    assert parse(items).sort == tuple((k, direction or "desc") for k in keys)


@CI
@given(limit=st.integers(min_value=0, max_value=10**30))
def test_limit_is_clamped(limit: int) -> None:
    assert parse([("limit", str(limit))]).limit == min(limit, SETTINGS.api_limit_max)


@CI
@given(limit=st.integers(max_value=-1) | st.text(min_size=1).filter(lambda t: not _is_int(t)))
def test_bad_limit_is_a_400(limit: int | str) -> None:
    try:
        parse([("limit", str(limit))])
    except InvalidRequest:
        return
    raise AssertionError(f"limit={limit!r} accepted")


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


@CI
@given(op=st.sampled_from(["gt", "gte", "lt", "lte", "neq", "eq", None]), stamp=stamps,
       offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
       column=st.sampled_from(["created_at", "updated_at"]))
def test_time_filters_round_trip(op: str | None, stamp: datetime, offset_minutes: int,
                                 column: str) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    local = stamp.replace(tzinfo=UTC).astimezone(zone)
    raw = local.isoformat() if op is None else f"{op}:{local.isoformat()}"
    (found,) = [f for f in parse([(column, raw)]).filters if f.column == column]
    assert found == Filter(column, op or "eq", stamp)


@CI
@given(column=st.sampled_from(["disk_format", "container_format"]), data=st.data())
def test_in_lists_keep_their_items(column: str, data: st.DataObject) -> None:
    allowed = DISK_FORMATS if column == "disk_format" else CONTAINER_FORMATS
    items = data.draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=5))
    quoted = [f'"{i}"' if n % 2 else i for n, i in enumerate(items)]
    query = parse([(column, "in:" + ",".join(quoted))])
    assert Filter(column, "in", items) in query.filters


@CI
@given(props=st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in KEYS),
                             st.text(max_size=10).filter(lambda v: "\x00" not in v),
                             max_size=5).filter(lambda d: all("\x00" not in k for k in d)),
       tags=st.lists(st.text(max_size=10).filter(lambda t: "\x00" not in t), max_size=4))
def test_properties_and_tags_pass_through(props: dict[str, str], tags: list[str]) -> None:
    query = parse([*props.items(), *(("tag", t) for t in tags)])
    assert dict(query.properties) == props and list(query.tags) == tags


TASK_KEYS = ["limit", "marker", "sort_key", "sort_dir", "status", "type", "x"]
TASK_VALUES = ["", "0", "-1", "1000", "1001", "id", "type", "status", "created_at", "asc",
               "desc", "pending", "success", "import", "api_image_import",
               "0e7c5d9c-5c3f-4c44-9b7a-5b0f7e0a6f11", "{0e7c5d9c-5c3f-4c44-9b7a-5b0f7e0a6f11}"]


@CI
@given(items=st.lists(st.tuples(st.sampled_from(TASK_KEYS),
                                st.sampled_from(TASK_VALUES) | st.text(max_size=20)),
                      max_size=6))
def test_any_task_query_parses_or_is_a_400(items: list[tuple[str, str]]) -> None:
    """GET /v2/tasks: the same contract as the image list (api/image/tasks.py)."""
    try:
        query = parse_task_query(QueryParams(urlencode(items)))
    except InvalidRequest:
        return
    assert 0 <= query.limit <= TASK_MAX_LIMIT
    assert query.sort_key in TASK_SORT_KEYS
    if query.marker is not None:
        uuid.UUID(query.marker)  # only a UUID gets as far as the database


@CI
@given(marker=st.uuids(), limit=st.integers(0, 5000),
       sort_key=st.sampled_from(TASK_SORT_KEYS), ascending=st.booleans())
def test_task_queries_round_trip(marker: uuid.UUID, limit: int, sort_key: str,
                                 ascending: bool) -> None:
    query = parse_task_query(QueryParams(urlencode(
        {"marker": str(marker), "limit": limit, "sort_key": sort_key,
         "sort_dir": "asc" if ascending else "desc"})))
    assert (query.marker, query.limit, query.sort_key, query.ascending) == (
        str(marker), min(limit, TASK_MAX_LIMIT), sort_key, ascending)
