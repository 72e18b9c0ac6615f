"""Attachment bookkeeping (legacy actions and the 3.27 attachments API) and connection info:
``rbd`` with pool/name, monitors and the cluster fsid as secret; ``file`` with the path and the
format; and the libvirt ``<disk>`` element for each."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cowshed.domain.query import VolumeQuery
from cowshed.domain.volumes import AttachmentStatus, AttachStatus, VolumeStatus
from cowshed.errors import InvalidRequest, InvalidState, NotFound
from tests.volumes.conftest import CALLER, VolumeEnv

CONNECTOR = {"host": "compute-1", "ip": "10.0.0.5", "initiator": "iqn.x", "multipath": False}


def test_legacy_attach_cycle(env: VolumeEnv) -> None:
    svc = env.services.volumes
    vol = svc.wait_volume(svc.create(CALLER, size=1).id)
    env.created.add(vol.id)
    assert svc.reserve(CALLER, vol.id).status is VolumeStatus.ATTACHING
    with pytest.raises(InvalidState):
        svc.reserve(CALLER, vol.id)
    assert svc.unreserve(CALLER, vol.id).status is VolumeStatus.AVAILABLE
    svc.reserve(CALLER, vol.id)
    att = svc.attach(CALLER, vol.id, instance_uuid="i-1", mountpoint="/dev/vdb")
    attached = svc.get(CALLER, vol.id)
    assert (attached.status, attached.attach_status) == (VolumeStatus.IN_USE,
                                                         AttachStatus.ATTACHED)
    assert [a.id for a in attached.attachments] == [att.id]
    with pytest.raises(InvalidState):  # an in-use volume cannot be deleted
        svc.delete(CALLER, vol.id)
    assert svc.begin_detaching(CALLER, vol.id).status is VolumeStatus.DETACHING
    assert svc.roll_detaching(CALLER, vol.id).status is VolumeStatus.IN_USE
    with pytest.raises(NotFound):
        svc.detach(CALLER, vol.id, "no-such-attachment")
    detached = svc.detach(CALLER, vol.id, att.id)
    assert (detached.status, detached.attach_status, detached.attachments) == (
        VolumeStatus.AVAILABLE, AttachStatus.DETACHED, ())
    with pytest.raises(InvalidRequest):
        svc.attach(CALLER, vol.id, instance_uuid=None, mountpoint="/dev/vdb")


def test_attachments_api_and_connection_info(env: VolumeEnv) -> None:
    svc = env.services.volumes
    vol = svc.wait_volume(svc.create(CALLER, size=1).id)
    env.created.add(vol.id)
    att = svc.attachment_create(CALLER, vol.id, instance_uuid="i-2")
    assert att.status is AttachmentStatus.RESERVED
    assert svc.get(CALLER, vol.id).status is VolumeStatus.RESERVED
    assert svc.attachment_connection(CALLER, att.id) is None
    att = svc.attachment_update(CALLER, att.id, CONNECTOR)
    assert att.status is AttachmentStatus.ATTACHING
    info = svc.attachment_connection(CALLER, att.id)
    assert info is not None
    done = svc.attachment_complete(CALLER, att.id)
    assert done.status is AttachmentStatus.ATTACHED
    assert svc.get(CALLER, vol.id).status is VolumeStatus.IN_USE
    page = svc.attachment_list(CALLER, VolumeQuery())
    assert [a.id for a in page.items] == [att.id]

    disk = ET.fromstring(info.libvirt_xml)
    assert disk.find("serial").text == vol.id  # type: ignore[union-attr]
    if env.kind == "rbd":
        assert info.driver_volume_type == "rbd"
        assert info.data["name"] == f"{env.pool}/{vol.backend_key}"
        assert info.data["hosts"] and info.data["ports"]
        assert env.cluster is not None and info.data["secret_uuid"] == env.cluster.fsid
        source = disk.find("source")
        assert source is not None and source.get("protocol") == "rbd"
        assert source.get("name") == info.data["name"]
        assert source.find("host") is not None
    else:
        assert info.driver_volume_type == "file"
        assert info.data["path"] == env.store.backend.local_path(vol.backend_key)
        assert info.data["format"] == "qcow2"
        driver = disk.find("driver")
        assert driver is not None and driver.get("type") == "qcow2"
        assert disk.find("source").get("file") == info.data["path"]  # type: ignore[union-attr]

    after = svc.attachment_delete(CALLER, att.id)
    assert (after.status, after.attach_status) == (VolumeStatus.AVAILABLE, AttachStatus.DETACHED)
    with pytest.raises(NotFound):
        svc.attachment_get(CALLER, att.id)
