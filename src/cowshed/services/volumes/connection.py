"""Connection info (``os-initialize_connection``) and the libvirt ``<disk>`` element for it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from cowshed.domain.volumes import ConnectionInfo, Volume

#: what Nova's libvirt driver turns into ``<iotune>`` children (the spec keys are their names).
IOTUNE_KEYS = (
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec",
    "write_iops_sec", "size_iops_sec", "total_bytes_sec_max", "read_bytes_sec_max",
    "write_bytes_sec_max", "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max",
)


def connection_info(volume: Volume, store_info: Mapping[str, Any], disk_format: str,
                    target_dev: str = "vdb",
                    qos_specs: Mapping[str, str] | None = None) -> ConnectionInfo:
    """Cinder's answer for ``volume`` from the store's attach facts, plus the ``<disk>`` XML;
    ``qos_specs``: the front-end QoS specs of the volume's type (None when it has none)."""
    kind = str(store_info["driver_volume_type"])
    data: dict[str, Any] = dict(store_info["data"])
    data.update(volume_id=volume.id, access_mode="ro" if volume.readonly else "rw",
                encrypted=volume.encrypted,
                qos_specs=dict(qos_specs) if qos_specs is not None else None)
    if kind == "file":
        data.setdefault("format", disk_format)
    xml = libvirt_disk(kind, data, volume, target_dev)
    return ConnectionInfo(driver_volume_type=kind, data=data, libvirt_xml=xml)


def libvirt_disk(kind: str, data: Mapping[str, Any], volume: Volume, target_dev: str) -> str:
    """``<disk>`` for an RBD network disk or a local file, as Nova's volume drivers write it."""
    disk = ET.Element("disk", type="network" if kind == "rbd" else "file", device="disk")
    fmt = "raw" if kind == "rbd" else str(data.get("format", "raw"))
    driver = ET.SubElement(disk, "driver", name="qemu", type=fmt, cache="none")
    if kind == "rbd":
        if data.get("discard"):
            driver.set("discard", "unmap")
        source = ET.SubElement(disk, "source", protocol="rbd", name=str(data["name"]))
        for host, port in zip(data.get("hosts", []), data.get("ports", []), strict=False):
            ET.SubElement(source, "host", name=str(host), port=str(port))
        if data.get("auth_enabled"):
            auth = ET.SubElement(disk, "auth", username=str(data.get("auth_username") or ""))
            ET.SubElement(auth, "secret", type="ceph", uuid=str(data.get("secret_uuid", "")))
    else:
        ET.SubElement(disk, "source", file=str(data["path"]))
    ET.SubElement(disk, "target", dev=target_dev, bus="virtio")
    _iotune(disk, data.get("qos_specs") or {})
    ET.SubElement(disk, "serial").text = volume.id
    if volume.readonly:
        ET.SubElement(disk, "readonly")
    ET.indent(disk)
    return ET.tostring(disk, encoding="unicode")


def _iotune(disk: ET.Element, specs: Mapping[str, str]) -> None:
    """``<iotune>`` from front-end QoS specs, as Nova's libvirt driver writes it (the spec keys
    are the element names; others are ignored)."""
    known = [(k, specs[k]) for k in IOTUNE_KEYS if k in specs]
    if not known:
        return
    iotune = ET.SubElement(disk, "iotune")
    for key, value in known:
        ET.SubElement(iotune, key).text = str(value)
