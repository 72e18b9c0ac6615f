"""List query strings as Cinder reads them (``cinder/api/common.py`` pagination and sort
parameters, ``cinder/volume/api.py`` ``check_volume_filters``), turned into a VolumeQuery."""

from __future__ import annotations

import ast
from collections.abc import Mapping

from starlette.datastructures import QueryParams

from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import VolumeRequest
from cowshed.domain.query import Filter, VolumeQuery
from cowshed.errors import InvalidRequest

#: ``osapi_max_limit``: the page size when none is asked, and the most a page holds.
MAX_LIMIT = 1000
#: parameters that are not filters.
_CONTROL = frozenset({"limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count",
                      "all_tenants", "all_projects", "metadata"})
#: filters the volume and snapshot lists know; other keys are ignored, as Cinder does for
#: admins (every noauth caller is one).
VOLUME_FILTERS = frozenset({"name", "status", "bootable", "availability_zone", "volume_type",
                            "size", "id", "user_id", "project_id", "group_id"})
SNAPSHOT_FILTERS = frozenset({"name", "status", "volume_id", "project_id", "size", "id"})
ATTACHMENT_FILTERS = frozenset({"volume_id", "instance_id", "status", "attach_status"})
#: from 3.34 a ``name~=x`` filter matches inexactly.
LIKE_FILTER = mv.Version(3, 34)
BOOLEAN_STRICT = mv.Version(3, 2)
_TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE = frozenset({"0", "f", "false", "off", "n", "no"})


def bool_param(name: str, value: str) -> bool:
    """``oslo_utils.strutils.bool_from_string(strict=True)`` with Cinder's message."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidRequest(f"Invalid value '{value}' for {name}: must be a boolean")


def _int_param(params: QueryParams, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} param must be an integer") from None
    if value < 0:
        raise InvalidRequest(f"{name} param must be positive")
    return value


def limit_of(params: QueryParams) -> int:
    return min(_int_param(params, "limit", MAX_LIMIT), MAX_LIMIT)


def _sort(params: QueryParams) -> tuple[tuple[str, str], ...]:
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise InvalidRequest("The param 'sort' cannot be used with 'sort_key' or 'sort_dir'.")
        pairs = []
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            if not key.strip():
                raise InvalidRequest(f"Invalid sort parameter {params['sort']!r}")
            pairs.append((key.strip(), (direction.strip() or "desc").lower()))
    else:
        pairs = [(params.get("sort_key", "created_at").strip(),
                  params.get("sort_dir", "desc").strip().lower())]
    for _key, direction in pairs:
        if direction not in ("asc", "desc"):
            raise InvalidRequest("Unknown sort direction, must be 'desc' or 'asc'")
    return tuple(pairs)


def _metadata(params: QueryParams) -> Mapping[str, str]:
    """``metadata={'k': 'v'}``: a Python dict literal, as Cinder's ``ast.literal_eval`` reads it."""
    raw = params.get("metadata")
    if raw is None:
        return {}
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InvalidRequest(f"Invalid metadata filter {raw!r}") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid metadata filter {raw!r}")
    return {str(k): str(v) for k, v in value.items()}


def _filters(vr: VolumeRequest, params: QueryParams, known: frozenset[str]
             ) -> tuple[Filter, ...]:
    out: list[Filter] = []
    for key, value in params.multi_items():
        if key in _CONTROL:
            continue
        like = key.endswith("~") and vr.version >= LIKE_FILTER
        column = key[:-1] if like else key
        if column not in known:
            continue
        if column == "bootable":
            out.append(Filter(column, "eq", _bootable(vr, key, value)))
        else:
            out.append(Filter(column, "like" if like else "eq", value))
    return tuple(out)


def _bootable(vr: VolumeRequest, key: str, value: str) -> bool:
    """From 3.2 a boolean or 400; before, the boolean words still count and anything else
    means true (Cinder's database compares the string with the boolean column)."""
    if vr.version >= BOOLEAN_STRICT:
        return bool_param(key, value)
    return value.strip().lower() not in _FALSE


def _sort_alias(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Cinder's database column names for ``name`` are accepted as sort keys too."""
    return tuple(("name" if key == "display_name" else key, way) for key, way in pairs)


def list_query(vr: VolumeRequest, params: QueryParams, known: frozenset[str]) -> VolumeQuery:
    """A validated VolumeQuery for a volume, snapshot or attachment list."""
    with_count = False
    if vr.version >= mv.SUPPORT_COUNT_INFO and "with_count" in params:
        with_count = bool_param("with_count", params["with_count"])
    all_projects = False
    for name in ("all_tenants", "all_projects"):
        if name in params:
            all_projects = all_projects or bool_param(name, params[name] or "true")
    return VolumeQuery(
        filters=_filters(vr, params, known), metadata=_metadata(params),
        sort=_sort_alias(_sort(params)),
        limit=limit_of(params), marker=params.get("marker") or None,
        offset=_int_param(params, "offset", 0), all_projects=all_projects,
        with_count=with_count,
    )


def next_links(vr: VolumeRequest, params: QueryParams, collection: str, ids: list[str]
               ) -> list[dict[str, str]]:
    """``[{"rel": "next", "href": …}]`` when the page is full, else [].

    The href is the URL the client asked for (public ``/volume`` prefix, project id as given)
    with ``marker`` set to the page's last id and every other parameter kept.
    """
    if not ids or limit_of(params) > len(ids):
        return []
    kept = [(k, v) for k, v in params.multi_items() if k != "marker"] + [("marker", ids[-1])]
    return [{"rel": "next",
             "href": f"{vr.api_base}/{collection}?{QueryParams(kept)}"}]
