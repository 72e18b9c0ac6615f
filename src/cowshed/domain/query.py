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
class Audience:
    """Whose listing it is, for a caller who is not admin (an admin lists everything).

    Glance's rule: public images, the project's own (any visibility), shared images the project
    is a member of with ``member_status`` ("all" for any), and community images of other
    projects only when asked for (``community``: a visibility filter of community or all).
    """

    project_id: str | None
    member_status: str = "accepted"
    community: bool = False


@dataclass(frozen=True)
class ImageQuery:
    """A list request, already validated by the API layer."""

    filters: tuple[Filter, ...] = ()
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    limit: int = 25
    marker: str | None = None
    #: the ``member_status`` asked for (pending, accepted, rejected or all).
    member_status: str = "accepted"
    #: the ``visibility`` asked for, "all" included (the filter itself is in ``filters``).
    visibility: str | None = None
    #: set by the image service from the caller; None lists every project's images.
    audience: Audience | None = None


#: columns a volume list may be sorted on (Cinder's allowed sort keys).
VOLUME_SORT_KEYS = frozenset({
    "id", "name", "status", "size", "created_at", "updated_at", "availability_zone",
    "bootable", "volume_type", "project_id",
})
#: columns a snapshot list may be sorted on.
SNAPSHOT_SORT_KEYS = frozenset({
    "id", "name", "status", "size", "created_at", "updated_at", "volume_id", "project_id",
})


@dataclass(frozen=True)
class VolumeQuery:
    """A volume or snapshot list request, validated by the API layer.

    ``filters`` are exact matches on columns (``name``, ``status``, ``bootable``,
    ``volume_type``, ``availability_zone``, ``volume_id`` for snapshots…); ``name~`` style
    inexact filters are passed as ``Filter(column, "like", value)``. ``metadata`` matches every
    pair. ``all_projects`` lists every project's objects (admins only). Hidden (deleted, kept for
    a child) objects are never listed.
    """

    filters: tuple[Filter, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    limit: int | None = None
    marker: str | None = None
    offset: int = 0
    all_projects: bool = False
    #: also count every match regardless of limit/marker (``with_count``, 3.45+).
    with_count: bool = False
