"""The Block Storage API v3 route table (paths without the project id: the app strips it)."""

from __future__ import annotations

from cowshed.api.routing import Endpoint, Table
from cowshed.api.volume import (
    actions,
    attachments,
    discovery,
    hosts,
    metadata,
    misc,
    qos,
    quotas,
    snapshots,
    transfers,
    types,
    volumes,
)

#: first path segments after ``/v3`` that name a resource, never a project id.
COLLECTIONS = frozenset({
    "volumes", "snapshots", "attachments", "types", "limits", "os-quota-sets", "backups",
    "extensions", "os-availability-zone", "os-services", "scheduler-stats", "messages",
    "groups", "group_types", "group_snapshots", "os-volume-transfer", "volume-transfers",
    "qos-specs", "os-hosts", "workers", "clusters", "manageable_volumes",
    "manageable_snapshots", "os-quota-class-sets", "default-types", "os-snapshot-manage",
    "os-volume-manage", "resource_filters", "consistencygroups", "cgsnapshots", "capabilities",
})

_VOL = "/v3/volumes/{volume_id}"
_SNAP = "/v3/snapshots/{snapshot_id}"
_ATT = "/v3/attachments/{attachment_id}"
_TYPE = "/v3/types/{type_id}"
_QOS = "/v3/qos-specs/{qos_id}"
_VMETA = metadata.handlers(metadata.VOLUME)
_SMETA = metadata.handlers(metadata.SNAPSHOT)


def table() -> Table:
    """(method, path, handler) for every operation of the Block Storage API v3 we serve.

    Anything else (``/backups``, groups, transfers…) is not routed and answers Cinder's 404
    ``itemNotFound``.
    """
    return [
        ("GET", "/", discovery.all_versions),
        ("GET", "/v3", discovery.v3),
        ("GET", "/v3/", discovery.v3),
        ("POST", "/v3/volumes", volumes.create),
        ("GET", "/v3/volumes", volumes.index),
        ("GET", "/v3/volumes/detail", volumes.detail),
        ("GET", "/v3/volumes/summary", volumes.summary),
        ("GET", _VOL, volumes.show),
        ("PUT", _VOL, volumes.update),
        ("DELETE", _VOL, volumes.delete),
        ("POST", _VOL + "/action", actions.volume_action),
        ("GET", _VOL + "/lineage", volumes.lineage),
        *_metadata_rows(_VOL, _VMETA),
        ("POST", "/v3/snapshots", snapshots.create),
        ("GET", "/v3/snapshots", snapshots.index),
        ("GET", "/v3/snapshots/detail", snapshots.detail),
        ("GET", _SNAP, snapshots.show),
        ("PUT", _SNAP, snapshots.update),
        ("DELETE", _SNAP, snapshots.delete),
        ("POST", _SNAP + "/action", snapshots.snapshot_action),
        *_metadata_rows(_SNAP, _SMETA),
        ("POST", "/v3/attachments", attachments.create),
        ("GET", "/v3/attachments", attachments.index),
        ("GET", "/v3/attachments/detail", attachments.detail),
        ("GET", _ATT, attachments.show),
        ("PUT", _ATT, attachments.update),
        ("DELETE", _ATT, attachments.delete),
        ("POST", _ATT + "/action", attachments.action),
        *_type_rows(),
        *_transfer_rows(),
        *_admin_rows(),
        ("GET", "/v3/limits", misc.limits),
        ("GET", "/v3/os-quota-sets/{project}", quotas.show_quotas),
        ("PUT", "/v3/os-quota-sets/{project}", quotas.update_quotas),
        ("DELETE", "/v3/os-quota-sets/{project}", quotas.delete_quotas),
        ("GET", "/v3/os-quota-sets/{project}/defaults", quotas.default_quotas),
        ("GET", "/v3/os-quota-class-sets/{name}", quotas.show_quota_class),
        ("PUT", "/v3/os-quota-class-sets/{name}", quotas.update_quota_class),
        ("GET", "/v3/os-availability-zone", misc.availability_zones),
        ("GET", "/v3/extensions", misc.extensions),
    ]


def _type_rows() -> Table:
    return [
        ("GET", "/v3/types", types.list_types),
        ("POST", "/v3/types", types.create_type),
        ("GET", _TYPE, types.show_type),
        ("PUT", _TYPE, types.update_type),
        ("DELETE", _TYPE, types.delete_type),
        ("POST", _TYPE + "/action", types.type_action),
        ("GET", _TYPE + "/os-volume-type-access", types.list_access),
        ("GET", _TYPE + "/extra_specs", types.list_specs),
        ("POST", _TYPE + "/extra_specs", types.create_specs),
        ("GET", _TYPE + "/extra_specs/{key}", types.show_spec),
        ("PUT", _TYPE + "/extra_specs/{key}", types.update_spec),
        ("DELETE", _TYPE + "/extra_specs/{key}", types.delete_spec),
    ]


def _qos_rows() -> Table:
    return [
        ("GET", "/v3/qos-specs", qos.index),
        ("POST", "/v3/qos-specs", qos.create),
        ("GET", _QOS, qos.show),
        ("PUT", _QOS, qos.set_keys),
        ("DELETE", _QOS, qos.delete),
        ("PUT", _QOS + "/delete_keys", qos.delete_keys),
        ("GET", _QOS + "/associations", qos.associations),
        ("GET", _QOS + "/associate", qos.associate),
        ("GET", _QOS + "/disassociate", qos.disassociate),
        ("GET", _QOS + "/disassociate_all", qos.disassociate_all),
    ]


def _transfer_rows() -> Table:
    return [
        row
        for base in ("/v3/os-volume-transfer", "/v3/volume-transfers")
        for row in (
            ("POST", base, transfers.create),
            ("GET", base, transfers.index),
            ("GET", base + "/detail", transfers.detail),
            ("GET", base + "/{transfer_id}", transfers.show),
            ("DELETE", base + "/{transfer_id}", transfers.delete),
            ("POST", base + "/{transfer_id}/accept", transfers.accept),
        )
    ]


def _admin_rows() -> Table:
    return [
        *_qos_rows(),
        ("GET", "/v3/os-services", hosts.list_services),
        ("PUT", "/v3/os-services/{action}", hosts.update_service),
        ("GET", "/v3/os-hosts", hosts.list_hosts),
        ("GET", "/v3/os-hosts/{host}", hosts.show_host),
        ("GET", "/v3/scheduler-stats/get_pools", hosts.get_pools),
        ("GET", "/v3/capabilities/{host}", hosts.capabilities),
    ]


def _metadata_rows(base: str, handlers: dict[str, Endpoint]) -> Table:
    return [
        ("GET", base + "/metadata", handlers["index"]),
        ("POST", base + "/metadata", handlers["create"]),
        ("PUT", base + "/metadata", handlers["update_all"]),
        ("GET", base + "/metadata/{key}", handlers["show"]),
        ("PUT", base + "/metadata/{key}", handlers["update_one"]),
        ("DELETE", base + "/metadata/{key}", handlers["delete"]),
    ]
