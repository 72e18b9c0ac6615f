"""Backend object keys, namespaced by what they hold.

Images, volumes and node disks may share a store (one pool, one directory); each kind's keys
have a shape no other kind's can take, so a sweep over one kind (the image orphan sweep, the
volume recovery) can never take another kind's object:

* images: the bare image id (a UUID), as glance_store names them (``rbd://fsid/pool/<id>/snap``);
* volumes: ``volume-<id>``, as Cinder names them;
* node disks: ``<instance uuid>_disk``, ``_disk.local``, ``_disk.swap``… as Nova names them.

Each kind also gets its own pool or directory by default (``images/`` and ``volumes/`` under the
data dir; the ``images`` and ``volumes`` pools), so the prefixes are a second fence, not the only
one.
"""

from __future__ import annotations

import enum
import re

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_IMAGE = re.compile(rf"^{_UUID}$")
_VOLUME = re.compile(rf"^volume-({_UUID})$")
_NODE_DISK = re.compile(rf"^{_UUID}_disk(\.[a-z0-9_]+)?$")

VOLUME_PREFIX = "volume-"


class ObjectKind(enum.StrEnum):
    IMAGE = "image"
    VOLUME = "volume"
    NODE_DISK = "node_disk"


def image_key(image_id: str) -> str:
    return image_id


def volume_key(volume_id: str) -> str:
    return f"{VOLUME_PREFIX}{volume_id}"


def kind_of(key: str) -> ObjectKind | None:
    """The kind of object ``key`` names, or None for a key no kind owns."""
    if _IMAGE.match(key):
        return ObjectKind.IMAGE
    if _VOLUME.match(key):
        return ObjectKind.VOLUME
    if _NODE_DISK.match(key):
        return ObjectKind.NODE_DISK
    return None


def volume_id_of(key: str) -> str | None:
    """The volume id in a volume key, else None."""
    match = _VOLUME.match(key)
    return match.group(1) if match else None
