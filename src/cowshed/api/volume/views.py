"""The exact JSON shapes of Cinder's views (``cinder/api/v2/views/volumes.py`` and the v3
builders, ``snapshots``, ``attachments``, ``types``), field by field and microversion by
microversion.

``show``/``detail`` carry the extension attributes Cinder's ``volume_tenant_attribute``,
``volume_host_attribute``, ``volume_mig_status_attribute`` and ``volume_image_metadata``
extensions add; the create and update answers do not (Tempest's schemas forbid them there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import VolumeRequest
from cowshed.domain.volumes import (
    Attachment,
    AttachmentStatus,
    Snapshot,
    TypeIndex,
    Volume,
    VolumeType,
)


def isotime(value: datetime | None) -> str | None:
    """Cinder's timestamps: naive ISO 8601 with microseconds."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def links(vr: VolumeRequest, collection: str, object_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{vr.api_base}/{collection}/{object_id}"},
        {"rel": "bookmark", "href": f"{vr.bookmark_base}/{collection}/{object_id}"},
    ]


def volume_summary(vr: VolumeRequest, volume: Volume) -> dict[str, Any]:
    return {"id": volume.id, "name": volume.name, "links": links(vr, "volumes", volume.id)}


def _attachments(volume: Volume) -> list[dict[str, Any]]:
    return [
        {"id": volume.id, "attachment_id": a.id, "volume_id": volume.id,
         "server_id": a.instance_uuid, "host_name": a.attached_host, "device": a.mountpoint,
         "attached_at": isotime(a.attach_time)}
        for a in volume.attachments if a.status is AttachmentStatus.ATTACHED
    ]


def volume_detail(vr: VolumeRequest, volume: Volume, types: TypeIndex, *,
                  extended: bool = True) -> dict[str, Any]:
    """One volume as ``show`` and ``detail`` give it (``extended=False``: create/update)."""
    view: dict[str, Any] = {
        "id": volume.id, "status": str(volume.status), "size": volume.size,
        "availability_zone": volume.availability_zone,
        "created_at": isotime(volume.created_at), "updated_at": isotime(volume.updated_at),
        "attachments": _attachments(volume), "name": volume.name,
        "description": volume.description, "volume_type": volume.volume_type,
        "snapshot_id": volume.snapshot_id, "source_volid": volume.source_volid,
        "metadata": dict(volume.metadata), "links": links(vr, "volumes", volume.id),
        "user_id": volume.user_id, "bootable": "true" if volume.bootable else "false",
        "encrypted": volume.encrypted, "replication_status": None,
        "consistencygroup_id": None, "multiattach": volume.multiattach,
    }
    admin = vr.caller.is_admin
    if admin:
        view["migration_status"] = None
    if extended:
        view.update(_extension_attributes(volume, types, admin))
    view.update(_microversioned(vr, volume, types, admin))
    return view


def _extension_attributes(volume: Volume, types: TypeIndex, admin: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"os-vol-tenant-attr:tenant_id": volume.project_id}
    if admin:
        # a type deleted under its volumes cannot happen (delete refuses types in use)
        attrs["os-vol-host-attr:host"] = types.hosts.get(volume.volume_type)
        attrs["os-vol-mig-status-attr:migstat"] = None
        attrs["os-vol-mig-status-attr:name_id"] = None
    if volume.image_metadata:
        attrs["volume_image_metadata"] = dict(volume.image_metadata)
    return attrs


def _microversioned(vr: VolumeRequest, volume: Volume, types: TypeIndex,
                    admin: bool) -> dict[str, Any]:
    version = vr.version
    out: dict[str, Any] = {}
    if version >= mv.GROUP_VOLUME:
        out["group_id"] = None
    if admin and version >= mv.VOLUME_DETAIL_PROVIDER_ID:
        out["provider_id"] = None
    if version >= mv.SHARED_TARGETS:
        # neither RBD nor file needs host-wide locks around attach (Cinder's RBD says False)
        out["shared_targets"] = False
        out["service_uuid"] = None
    if admin and version >= mv.VOLUME_CLUSTER_NAME:
        out["cluster_name"] = None
    if version >= mv.VOLUME_TYPE_ID:
        out["volume_type_id"] = types.ids.get(volume.volume_type)
    if version >= mv.USE_QUOTA:
        out["consumes_quota"] = True
    return out


def snapshot_view(vr: VolumeRequest, snap: Snapshot, *, extended: bool = True,
                  summary: bool = False) -> dict[str, Any]:
    """One snapshot: ``summary`` for the plain list, ``extended=False`` for create/update
    (no ``os-extended-snapshot-attributes``), the full form for show and detail."""
    view: dict[str, Any] = {
        "id": snap.id, "created_at": isotime(snap.created_at),
        "updated_at": isotime(snap.updated_at), "name": snap.name,
        "description": snap.description, "volume_id": snap.volume_id,
        "status": str(snap.status), "size": snap.size, "metadata": dict(snap.metadata),
    }
    if summary:
        return view
    if extended:
        view["os-extended-snapshot-attributes:progress"] = snap.progress
        view["os-extended-snapshot-attributes:project_id"] = snap.project_id
    if vr.version >= mv.GROUP_SNAPSHOTS:
        view["group_snapshot_id"] = None
    if vr.version >= mv.SNAPSHOT_USER_ID:
        view["user_id"] = snap.user_id
    if vr.version >= mv.USE_QUOTA:
        view["consumes_quota"] = True
    return view


def attachment_summary(att: Attachment) -> dict[str, Any]:
    return {"id": att.id, "status": str(att.status), "instance": att.instance_uuid,
            "volume_id": att.volume_id}


def attachment_detail(att: Attachment, connection_info: dict[str, Any] | None
                      ) -> dict[str, Any]:
    return {
        **attachment_summary(att), "attached_at": isotime(att.attach_time),
        "detached_at": isotime(att.detach_time), "attach_mode": str(att.attach_mode),
        "connection_info": connection_info or {},
    }


def type_view(vtype: VolumeType, admin: bool, form: str = "show") -> dict[str, Any]:
    """A type as show and list give it; ``form`` "create" and "update" are the answers to
    those calls, which (as Tempest's schemas for Cinder say) carry no ``qos_specs_id``, and
    after an update no ``os-volume-type-access:is_public`` either."""
    view: dict[str, Any] = {
        "id": vtype.id, "name": vtype.name, "description": vtype.description,
        "is_public": vtype.is_public,
    }
    if form != "update":
        view["os-volume-type-access:is_public"] = vtype.is_public
    if admin:
        view["extra_specs"] = dict(vtype.extra_specs)
        if form == "show":
            view["qos_specs_id"] = vtype.qos_specs_id
    return view
