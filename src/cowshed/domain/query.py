"""List queries as plain records: built and validated by the API or CLI, run by db/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: columns an image list may be sorted on.
SORT_KEYS = frozenset({
    "name", "status", "container_format", "disk_format", "size", "id", "created_at",
    "updated_at", "visibility", "owner", "min_ram", "min_disk", "virtual_size",
})


@dataclass(frozen=True)
class Filter:
    """One column condition: ``op`` is eq, neq, gt, gte, lt, lte or in."""

    column: str
    op: str
    value: object


@dataclass(frozen=True)
class ImageQuery:
    """A list request, already validated by the API layer."""

    filters: tuple[Filter, ...] = ()
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    limit: int = 25
    marker: str | None = None
