"""The attachment methods of :class:`~cowshed.services.volumes.VolumeService`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import (
    Attachment,
    AttachmentPage,
    AttachMode,
    Caller,
    ConnectionInfo,
    Volume,
)
from cowshed.services.volumes.base import ServiceBase


class AttachmentMethods(ServiceBase):
    # -- legacy attach actions (os-reserve … os-detach) ------------------------------------------

    def reserve(self, caller: Caller, volume_id: str) -> Volume:
        """``os-reserve``: available → attaching (multiattach: in-use → attaching too)."""
        return self._attach.reserve(self._access.volume(caller, volume_id))

    def unreserve(self, caller: Caller, volume_id: str) -> Volume:
        """``os-unreserve``: attaching → available (or in-use when other attachments remain)."""
        return self._attach.unreserve(self._access.volume(caller, volume_id))

    def attach(
        self, caller: Caller, volume_id: str, *, instance_uuid: str | None,
        mountpoint: str, host_name: str | None = None, mode: AttachMode = AttachMode.RW,
    ) -> Attachment:
        """``os-attach``: record the attachment; the volume turns ``in-use``/``attached``.
        Exactly one of instance_uuid/host_name is normally given; InvalidRequest if neither."""
        volume = self._access.volume(caller, volume_id)
        return self._attach.attach(volume, instance_uuid=instance_uuid, mountpoint=mountpoint,
                                   host_name=host_name, mode=mode)

    def begin_detaching(self, caller: Caller, volume_id: str) -> Volume:
        """``os-begin_detaching``: in-use → detaching."""
        return self._attach.begin_detaching(self._access.volume(caller, volume_id))

    def roll_detaching(self, caller: Caller, volume_id: str) -> Volume:
        """``os-roll_detaching``: detaching → in-use."""
        return self._attach.roll_detaching(self._access.volume(caller, volume_id))

    def detach(self, caller: Caller, volume_id: str, attachment_id: str | None = None) -> Volume:
        """``os-detach``: end one attachment (the only one when ``attachment_id`` is None);
        the volume turns ``available`` when none remain. NotFound for an unknown attachment."""
        volume = self._access.volume(caller, volume_id)
        detached = self._attach.detach(volume, attachment_id)
        self._lineage.reclaim(volume_id)  # snapshots kept while it was attached may go now
        return detached

    def initialize_connection(
        self, caller: Caller, volume_id: str, connector: Mapping[str, Any],
    ) -> ConnectionInfo:
        """``os-initialize_connection``: RBD ``{name: pool/volume-<id>, hosts, ports,
        auth_enabled, auth_username, secret_type, secret_uuid, cluster_name, volume_id,
        discard}``; file ``{device_path/export, name, format}``; plus the libvirt ``<disk>``."""
        return self._attach.connection(self._access.volume(caller, volume_id), connector)

    def terminate_connection(
        self, caller: Caller, volume_id: str, connector: Mapping[str, Any],
    ) -> None:
        """``os-terminate_connection``: nothing to undo on RBD or file; checks the volume."""
        self._access.volume(caller, volume_id)

    # -- attachments API (3.27+) -----------------------------------------------------------------

    def attachment_create(
        self, caller: Caller, volume_id: str, *, instance_uuid: str | None,
        connector: Mapping[str, Any] | None = None, mode: AttachMode = AttachMode.RW,
    ) -> Attachment:
        """Reserve the volume for an instance: ``reserved``; with a connector it is connected at
        once (``attaching``, connection info on :meth:`attachment_connection`)."""
        volume = self._access.volume(caller, volume_id)
        return self._attach.create(volume, instance_uuid=instance_uuid, connector=connector,
                                   mode=mode)

    def attachment_update(
        self, caller: Caller, attachment_id: str, connector: Mapping[str, Any],
    ) -> Attachment:
        """Give the connector of a reserved attachment: it turns ``attaching``."""
        return self._attach.update(self.attachment_get(caller, attachment_id), connector)

    def attachment_complete(self, caller: Caller, attachment_id: str) -> Attachment:
        """``os-complete``: the attachment is ``attached``, the volume ``in-use``."""
        return self._attach.complete(self.attachment_get(caller, attachment_id))

    def attachment_delete(self, caller: Caller, attachment_id: str) -> Volume:
        """End the attachment; the volume returns to ``available`` when none remain."""
        volume = self._attach.delete(self.attachment_get(caller, attachment_id))
        self._lineage.reclaim(volume.id)
        return volume

    def attachment_get(self, caller: Caller, attachment_id: str) -> Attachment:
        att = self.rt.db.get_attachment(attachment_id)
        self._access.volume(caller, att.volume_id)
        return att

    def attachment_connection(self, caller: Caller, attachment_id: str) -> ConnectionInfo | None:
        """The connection info of a connected attachment (None before a connector was given)."""
        return self._attach.connection_of(self.attachment_get(caller, attachment_id))

    def attachment_list(self, caller: Caller, query: VolumeQuery) -> AttachmentPage:
        """Attachments of the caller's volumes; filters ``volume_id``, ``instance_id``,
        ``status``."""
        return self._attach.list(caller, query)
