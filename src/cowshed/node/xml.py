"""The libvirt ``<disk>`` elements for an instance's disks, as Nova's ``LibvirtConfigGuestDisk``
writes them.

* cache mode: ``none`` when ``instances_path`` supports O_DIRECT, else ``writeback``; then
  ``disk_cachemodes`` overrides it per source type (``file``, ``block``, ``network``);
* ``discard`` from ``hw_disk_discard``; ``io='native'`` for preallocated file disks whose cache
  mode allows it (``none``/``directsync``);
* file disks: ``<source file>``; RBD disks: ``<source protocol='rbd' name='pool/image'>`` with
  one ``<host>`` per monitor and ``<auth>`` when a Ceph user or secret is configured;
* encrypted disks: ``<encryption format='luks'|'luks2'>`` inside ``<source>`` naming the libvirt
  secret (``engine='librbd'`` for librbd encryption) — the passphrase is never in the XML.

The root disk comes first, then the others in target order; the config drive is a read-only
cdrom.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from cowshed.domain.instance_disks import DiskKind, InstanceDisk, SourceType
from cowshed.node.settings import NodeSettings, Preallocate


@dataclass(frozen=True)
class XmlContext:
    """Host facts the XML depends on."""

    settings: NodeSettings
    #: whether instances_path supports O_DIRECT (the default cache mode).
    direct_io: bool
    #: ``(host, port)`` of the Ceph monitors, for RBD disks.
    mon_hosts: Sequence[tuple[str, str]] = ()

    def cache_mode(self, source_type: SourceType) -> str:
        mode = self.settings.cache_mode_for(str(source_type))
        if mode is not None:
            return mode
        return "none" if self.direct_io else "writeback"


def disk_element(disk: InstanceDisk, ctx: XmlContext) -> ET.Element:
    elem = ET.Element("disk", type=str(disk.source_type), device=disk.device)
    driver = ET.SubElement(elem, "driver")
    if disk.source_type is not SourceType.NETWORK:
        driver.set("name", "qemu")  # Nova's Rbd.libvirt_info sets no driver name
    driver.set("type", disk.format)
    cache = ctx.cache_mode(disk.source_type)
    driver.set("cache", cache)
    if ctx.settings.hw_disk_discard:
        driver.set("discard", ctx.settings.hw_disk_discard)
    if (disk.source_type is SourceType.FILE and cache in ("none", "directsync")
            and ctx.settings.preallocate_images is Preallocate.SPACE):
        driver.set("io", "native")
    source = _source(elem, disk, ctx)
    if disk.encryption is not None:
        enc = ET.SubElement(source, "encryption", format=disk.encryption.format)
        if disk.encryption.engine != "qemu":
            enc.set("engine", disk.encryption.engine)
        ET.SubElement(enc, "secret", type="passphrase", uuid=disk.encryption.secret_uuid)
    if disk.source_type is SourceType.NETWORK and not disk.volume_id and (
            ctx.settings.images_rbd_user or ctx.settings.rbd_secret_uuid):
        auth = ET.SubElement(elem, "auth", username=ctx.settings.images_rbd_user or "admin")
        ET.SubElement(auth, "secret", type="ceph", uuid=ctx.settings.rbd_secret_uuid)
    ET.SubElement(elem, "target", dev=disk.target, bus=disk.bus)
    if disk.volume_id:
        ET.SubElement(elem, "serial").text = disk.volume_id  # Nova: the guest sees the id
    if disk.readonly:
        ET.SubElement(elem, "readonly")
    return elem


def _source(elem: ET.Element, disk: InstanceDisk, ctx: XmlContext) -> ET.Element:
    if disk.source_type is SourceType.NETWORK:
        source = ET.SubElement(elem, "source", protocol="rbd", name=disk.path)
        hosts = [tuple(h.rsplit(":", 1)) for h in disk.hosts] or list(ctx.mon_hosts)
        for host, port in hosts:
            ET.SubElement(source, "host", name=host, port=port)
        return source
    if disk.source_type is SourceType.BLOCK:
        return ET.SubElement(elem, "source", dev=disk.path)
    return ET.SubElement(elem, "source", file=disk.path)


def ordered(disks: Sequence[InstanceDisk]) -> list[InstanceDisk]:
    """Root disk first, then by bus and target name."""
    return sorted(disks, key=lambda d: (d.kind is not DiskKind.ROOT, d.bus != "virtio",
                                        d.target))


def disks_xml(disks: Sequence[InstanceDisk], ctx: XmlContext) -> str:
    """The ``<disk>`` elements, one after the other, indented, root disk first."""
    parts = []
    for disk in ordered(disks):
        elem = disk_element(disk, ctx)
        ET.indent(elem, space="  ")
        parts.append(ET.tostring(elem, encoding="unicode"))
    return "\n".join(parts) + "\n"
