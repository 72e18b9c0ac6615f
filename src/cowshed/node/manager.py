"""``NodeManager``: the node disk manager's library API (``cowshed node …`` is a shell over it).

::

    from cowshed.config import load_settings
    from cowshed.node.manager import NodeManager, SpawnRequest

    with NodeManager(load_settings(config_file="node.toml")) as node:
        record = node.spawn(SpawnRequest("vm1", image_id))
        print(node.disk_xml("vm1"))
        node.delete("vm1")
"""

from __future__ import annotations

from types import TracebackType

from cowshed.config import Settings
from cowshed.domain.instance_disks import InstanceRecord, check_instance_name
from cowshed.errors import Conflict
from cowshed.formats.qemu_img import QemuImg
from cowshed.node import cleanup
from cowshed.node.cleanup import CacheEntry, CleanReport
from cowshed.node.context import NodeContext
from cowshed.node.delete import DeleteReport, delete_instance
from cowshed.node.files import read_json
from cowshed.node.files_disks import supports_direct_io
from cowshed.node.instances import RECORD
from cowshed.node.libvirt import Virsh
from cowshed.node.plan import Planner, SpawnPlan
from cowshed.node.settings import ImagesType
from cowshed.node.snapshot import SnapshotRequest, SnapshotResult, Snapshotter
from cowshed.node.spawn import Spawner, SpawnRequest
from cowshed.node.xml import XmlContext, disks_xml

__all__ = ["NodeManager", "SnapshotRequest", "SpawnRequest"]


class NodeManager:
    """One per process (or per command); thread-safe for concurrent spawns."""

    def __init__(self, settings: Settings, *, qemu: QemuImg | None = None) -> None:
        self.ctx = NodeContext.build(settings, qemu)
        self.ctx.instances_path.mkdir(parents=True, exist_ok=True)
        if settings.node.images_type.effective is ImagesType.LVM:
            from cowshed.node.lvm import check_lvm

            check_lvm(self.ctx)  # "a clear error at start" on hosts without device-mapper

    def __enter__(self) -> NodeManager:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.ctx.close()

    # -- instances ---------------------------------------------------------------------------

    def spawn(self, request: SpawnRequest) -> InstanceRecord:
        """Make every disk of a new instance; all or nothing."""
        return Spawner(self.ctx).spawn(request)

    def plan(self, request: SpawnRequest) -> SpawnPlan:
        """What :meth:`spawn` would do, disk by disk; changes nothing."""
        return Planner(self.ctx).plan(request)

    def instance(self, name: str) -> InstanceRecord:
        record = self.ctx.store.load(name)
        if _deleting(self.ctx, name):
            raise Conflict(f"instance {name} is being deleted")
        return record

    def instances(self) -> list[InstanceRecord]:
        return self.ctx.store.records()

    def disk_xml(self, name: str, *, define_secrets: bool = True) -> str:
        """The libvirt ``<disk>`` elements of the instance, root disk first.

        For encrypted disks the libvirt secrets the XML names are (re)defined first, private
        and ephemeral, unless ``define_secrets`` is False.
        """
        record = self.instance(name)
        if define_secrets:
            self.define_secrets(record)
        mons: list[tuple[str, str]] = []
        if any(d.source_type == "network" and not d.hosts for d in record.disks):
            mons = self.ctx.rbd.mon_hosts()
        xctx = XmlContext(self.ctx.node, supports_direct_io(self.ctx.instances_path), mons)
        return disks_xml(record.disks, xctx)

    def snapshot(self, request: SnapshotRequest) -> SnapshotResult:
        """Snapshot the root disk into the image service (cold, or live from a running
        libvirt domain); returns the new, active image."""
        with self.ctx.store.locked(request.instance):
            record = self.instance(request.instance)
            return Snapshotter(self.ctx).snapshot(request, record)

    def define_secrets(self, record: InstanceRecord) -> None:
        """Make sure libvirt knows the passphrase of each encrypted disk (its secrets are
        ephemeral: a restarted libvirtd has forgotten them)."""
        encrypted = [d for d in record.disks if d.encryption is not None]
        if not encrypted:
            return
        virsh = Virsh(self.ctx.node.libvirt_uri)
        for disk in encrypted:
            assert disk.encryption is not None
            uuid = disk.encryption.secret_uuid
            if not virsh.has_secret(uuid):
                virsh.define_secret(uuid, f"cowshed/{record.instance}/{disk.name}",
                                    self.ctx.keys.passphrase(uuid))

    def delete(self, name: str) -> DeleteReport:
        """Wipe (``volume_clear``) and remove the instance's disks; returns the receipts."""
        check_instance_name(name)
        with self.ctx.store.locked(name):
            return delete_instance(self.ctx, name)

    # -- cache -------------------------------------------------------------------------------

    def cache_list(self) -> list[CacheEntry]:
        return cleanup.list_entries(self.ctx)

    def cache_clean(self, *, verify: bool = True) -> CleanReport:
        return cleanup.clean(self.ctx, verify=verify)


def _deleting(ctx: NodeContext, name: str) -> bool:
    data = read_json(ctx.store.dir(name) / RECORD)
    return bool(data and data.get("deleting"))
