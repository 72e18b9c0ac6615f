"""The image record, its enums and its status machine (Glance v2 semantics)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cowshed.errors import InvalidStatusTransition


class ImageStatus(enum.StrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"
    DELETED = "deleted"
    PENDING_DELETE = "pending_delete"
    DEACTIVATED = "deactivated"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    SHARED = "shared"
    COMMUNITY = "community"


DISK_FORMATS: tuple[str, ...] = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
)
CONTAINER_FORMATS: tuple[str, ...] = (
    "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed",
)

#: Glance's ``Image.valid_state_targets``.
TRANSITIONS: Mapping[ImageStatus, frozenset[ImageStatus]] = {
    ImageStatus.QUEUED: frozenset({
        ImageStatus.SAVING, ImageStatus.UPLOADING, ImageStatus.IMPORTING,
        ImageStatus.ACTIVE, ImageStatus.DELETED,
    }),
    ImageStatus.SAVING: frozenset({
        ImageStatus.ACTIVE, ImageStatus.KILLED, ImageStatus.DELETED, ImageStatus.QUEUED,
    }),
    ImageStatus.UPLOADING: frozenset({
        ImageStatus.IMPORTING, ImageStatus.QUEUED, ImageStatus.DELETED,
    }),
    ImageStatus.IMPORTING: frozenset({
        ImageStatus.ACTIVE, ImageStatus.DELETED, ImageStatus.QUEUED,
    }),
    ImageStatus.ACTIVE: frozenset({
        ImageStatus.PENDING_DELETE, ImageStatus.DELETED, ImageStatus.DEACTIVATED,
    }),
    ImageStatus.KILLED: frozenset({ImageStatus.DELETED}),
    ImageStatus.PENDING_DELETE: frozenset({ImageStatus.DELETED, ImageStatus.ACTIVE}),
    ImageStatus.DEACTIVATED: frozenset({ImageStatus.ACTIVE, ImageStatus.DELETED}),
    ImageStatus.DELETED: frozenset(),
}


def check_transition(current: ImageStatus, target: ImageStatus) -> None:
    """Raise InvalidStatusTransition unless ``current → target`` is allowed."""
    if target not in TRANSITIONS[current]:
        raise InvalidStatusTransition(
            f"Image status transition from {current} to {target} is not allowed"
        )


#: Fields a client may never set (403 on create or PATCH).
READ_ONLY: frozenset[str] = frozenset({
    "created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url",
    "self", "file", "schema", "id", "os_hash_algo", "os_hash_value", "stores",
})
#: Reserved names (403), beside anything starting with ``os_glance``.
RESERVED: frozenset[str] = frozenset({"location", "deleted", "deleted_at", "locations"})
#: Base attributes (not extra properties) a client may set.
SETTABLE: frozenset[str] = frozenset({
    "name", "visibility", "protected", "os_hidden", "min_ram", "min_disk", "disk_format",
    "container_format", "tags", "owner",
})


def is_reserved(name: str) -> bool:
    # any case: the database compares property names without it (SQLite LIKE), so must we
    return name in RESERVED or name.lower().startswith("os_glance")


@dataclass(frozen=True)
class Location:
    """Where one copy of an image's data lives."""

    store: str
    url: str


@dataclass(frozen=True)
class Image:
    """One image record as the services see it."""

    id: str
    name: str | None
    status: ImageStatus
    visibility: Visibility
    protected: bool
    os_hidden: bool
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    size: int | None
    virtual_size: int | None
    min_ram: int
    min_disk: int
    disk_format: str | None
    container_format: str | None
    owner: str | None
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    locations: tuple[Location, ...] = ()

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(loc.store for loc in self.locations)
