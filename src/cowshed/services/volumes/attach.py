"""Attachment bookkeeping: the legacy actions (os-reserve … os-detach) and the 3.27+
attachments API. Nothing here touches data; every change is a compare-and-set on the volume.

Attaching marks a volume *dirty*: a hypervisor may write it from then on, so the next clone of it
takes a new backend snapshot instead of reusing the last one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from cowshed.domain.clock import utcnow
from cowshed.domain.query import Filter, VolumeQuery
from cowshed.domain.volumes import (
    Attachment,
    AttachmentPage,
    AttachmentStatus,
    AttachMode,
    AttachStatus,
    Caller,
    ConnectionInfo,
    Volume,
    VolumeStatus,
)
from cowshed.errors import InvalidRequest, InvalidState, NotFound
from cowshed.services.volumes.connection import connection_info
from cowshed.services.volumes.qos import front_end_specs
from cowshed.services.volumes.runtime import Runtime

_V = VolumeStatus
_A = AttachmentStatus
#: statuses a volume may be attached from (in-use too when multiattach).
_ATTACHABLE = (_V.AVAILABLE, _V.ATTACHING, _V.RESERVED)


def _attachable(volume: Volume) -> list[VolumeStatus]:
    return [*_ATTACHABLE, _V.IN_USE] if volume.multiattach else list(_ATTACHABLE)


class Attachments:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.db = rt.db

    def _settle(self, volume: Volume, expect: list[VolumeStatus]) -> Volume:
        """After an attachment ended: in-use while attached ones remain, else available."""
        attached = [a for a in self.db.get_volume(volume.id).attachments
                    if a.status in (_A.ATTACHED, _A.ATTACHING, _A.RESERVED)]
        if attached:
            return self.db.update_volume(volume.id, expect=expect, status=_V.IN_USE,
                                         attach_status=AttachStatus.ATTACHED)
        return self.db.update_volume(volume.id, expect=expect, status=_V.AVAILABLE,
                                     attach_status=AttachStatus.DETACHED)

    # -- legacy actions -------------------------------------------------------------------------

    def reserve(self, volume: Volume) -> Volume:
        expect = [_V.AVAILABLE, _V.IN_USE] if volume.multiattach else [_V.AVAILABLE]
        return self.db.update_volume(volume.id, expect=expect, status=_V.ATTACHING, dirty=True)

    def unreserve(self, volume: Volume) -> Volume:
        return self._settle(volume, [_V.ATTACHING])

    def attach(self, volume: Volume, *, instance_uuid: str | None, mountpoint: str,
               host_name: str | None, mode: AttachMode) -> Attachment:
        if instance_uuid is None and host_name is None:
            raise InvalidRequest("Invalid request to attach volume: an instance_uuid or a "
                                 "host_name is required")
        if volume.readonly and mode is AttachMode.RW:
            raise InvalidRequest(f"Invalid attaching mode 'rw' for volume {volume.id}: the "
                                 "volume is read-only")
        self.db.update_volume(volume.id, expect=_attachable(volume), status=_V.ATTACHING,
                              dirty=True)
        now = utcnow()
        att = Attachment(id=str(uuid.uuid4()), volume_id=volume.id, status=_A.ATTACHED,
                         instance_uuid=instance_uuid, attached_host=host_name,
                         mountpoint=mountpoint, attach_mode=mode, attach_time=now)
        self.db.insert_attachment(att)
        self.db.update_volume(volume.id, expect=[_V.ATTACHING], status=_V.IN_USE,
                              attach_status=AttachStatus.ATTACHED)
        return att

    def begin_detaching(self, volume: Volume) -> Volume:
        return self.db.update_volume(volume.id, expect=[_V.IN_USE], status=_V.DETACHING,
                                     attach_status=AttachStatus.DETACHING)

    def roll_detaching(self, volume: Volume) -> Volume:
        return self.db.update_volume(volume.id, expect=[_V.DETACHING], status=_V.IN_USE,
                                     attach_status=AttachStatus.ATTACHED)

    def detach(self, volume: Volume, attachment_id: str | None) -> Volume:
        if volume.status not in (_V.IN_USE, _V.DETACHING):
            raise InvalidState(f"Volume {volume.id} status must be in-use or detaching to "
                               f"detach, it is {volume.status}")
        live = [a for a in volume.attachments if a.status is not _A.DETACHED]
        if attachment_id is None:
            if len(live) != 1:
                raise InvalidRequest("Detach needs an attachment_id: the volume has "
                                     f"{len(live)} attachments")
            attachment_id = live[0].id
        if not any(a.id == attachment_id for a in live):
            raise NotFound(f"Volume attachment {attachment_id} could not be found.")
        self.db.delete_attachment_row(attachment_id)
        return self._settle(volume, [_V.IN_USE, _V.DETACHING])

    def connection(self, volume: Volume, connector: Mapping[str, Any]) -> ConnectionInfo:
        if not isinstance(connector, Mapping):
            raise InvalidRequest("Invalid input received: connector must be an object")
        store = self.rt.store(volume.volume_type)
        qos = front_end_specs(self.rt.types.qos_for(volume.volume_type))
        return connection_info(volume, store.attach_info(volume.backend_key), store.disk_format,
                               qos_specs=qos)

    # -- attachments API ------------------------------------------------------------------------

    def create(self, volume: Volume, *, instance_uuid: str | None,
               connector: Mapping[str, Any] | None, mode: AttachMode) -> Attachment:
        self.db.update_volume(volume.id, expect=[*_attachable(volume)], status=_V.RESERVED,
                              dirty=True)
        att = Attachment(id=str(uuid.uuid4()), volume_id=volume.id, status=_A.RESERVED,
                         instance_uuid=instance_uuid, attached_host=None, mountpoint=None,
                         attach_mode=mode)
        self.db.insert_attachment(att)
        if connector:
            return self.update(att, connector)
        return att

    def update(self, att: Attachment, connector: Mapping[str, Any]) -> Attachment:
        if not isinstance(connector, Mapping) or not connector:
            raise InvalidRequest("Invalid input received: a connector is required")
        volume = self.db.get_volume(att.volume_id)
        updated = Attachment(
            id=att.id, volume_id=att.volume_id, status=_A.ATTACHING,
            instance_uuid=att.instance_uuid,
            attached_host=str(connector.get("host") or "") or att.attached_host,
            mountpoint=str(connector.get("mountpoint") or "") or att.mountpoint,
            attach_mode=att.attach_mode, connector=dict(connector), attach_time=att.attach_time)
        result = self.db.update_attachment(updated, expect=[_A.RESERVED, _A.ATTACHING])
        if volume.status is _V.RESERVED:
            self.db.update_volume(volume.id, expect=[_V.RESERVED], status=_V.ATTACHING)
        return result

    def complete(self, att: Attachment) -> Attachment:
        done = Attachment(
            id=att.id, volume_id=att.volume_id, status=_A.ATTACHED,
            instance_uuid=att.instance_uuid, attached_host=att.attached_host,
            mountpoint=att.mountpoint, attach_mode=att.attach_mode, connector=att.connector,
            attach_time=utcnow())
        result = self.db.update_attachment(done, expect=[_A.ATTACHING, _A.RESERVED,
                                                         _A.ATTACHED])
        volume = self.db.get_volume(att.volume_id)
        self.db.update_volume(volume.id, expect=[_V.ATTACHING, _V.RESERVED, _V.IN_USE],
                              status=_V.IN_USE, attach_status=AttachStatus.ATTACHED)
        return result

    def delete(self, att: Attachment) -> Volume:
        self.db.delete_attachment_row(att.id)
        volume = self.db.get_volume(att.volume_id)
        return self._settle(volume, [_V.RESERVED, _V.ATTACHING, _V.IN_USE, _V.DETACHING])

    def connection_of(self, att: Attachment) -> ConnectionInfo | None:
        if not att.connector:
            return None
        return self.connection(self.db.get_volume(att.volume_id), att.connector)

    def list(self, caller: Caller, query: VolumeQuery) -> AttachmentPage:
        project = None if caller.is_admin and query.all_projects else caller.project_id
        if caller.is_admin and not query.all_projects:
            project = caller.project_id
        filters = tuple(f if f.column != "instance_id" else Filter("instance_uuid", f.op,
                                                                    f.value)
                        for f in query.filters)
        items, count = self.db.list_attachments(
            VolumeQuery(filters=filters, sort=query.sort, limit=query.limit,
                        marker=query.marker, offset=query.offset,
                        with_count=query.with_count), project)
        return AttachmentPage(tuple(items), count)
