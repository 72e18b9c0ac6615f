"""``images_type = "lvm"``: refused with a clear error on hosts without device-mapper.

Nova's Lvm backend needs ``images_volume_group`` and the kernel's device-mapper (every logical
volume is a dm device). This host class (containers, Firecracker VMs) often has no
``/dev/mapper/control``; then LVM cannot work at all, and saying so before anything is created
is better than failing halfway through a spawn. LVM disks themselves are not implemented yet:
on a host with device-mapper the error says that instead.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from cowshed.domain.instance_disks import InstanceDisk
from cowshed.errors import ConfigError, UnsupportedOperation
from cowshed.node import tools
from cowshed.node.cache import BaseFile
from cowshed.node.context import NodeContext
from cowshed.node.disk_types import DiskJob, RootDisk
from cowshed.node.imageservice import ImageMeta
from cowshed.node.settings import ImagesType

DM_CONTROL = Path("/dev/mapper/control")


def device_mapper_problem() -> str | None:
    """Why device-mapper is unusable here, or None when it works."""
    if not DM_CONTROL.exists():
        return f"{DM_CONTROL} does not exist (no device-mapper in this kernel or container)"
    try:
        tools.run(["dmsetup", "version"], what="probing device-mapper", timeout=10,
                  package="dmsetup")
    except Exception as exc:
        return f"dmsetup version failed: {exc}"
    return None


def check_lvm(ctx: NodeContext) -> None:
    """ConfigError unless ``images_type = "lvm"`` can work on this host."""
    problem = device_mapper_problem()
    if problem is not None:
        raise ConfigError(
            f"images_type = 'lvm' needs device-mapper, and this host has none: {problem}. "
            "Use images_type = 'qcow2', 'raw' or 'rbd'"
        )
    if not ctx.node.images_volume_group:
        raise ConfigError("images_type = 'lvm' needs images_volume_group")
    raise UnsupportedOperation("images_type = 'lvm' is not implemented by cowshed yet")


class LvmDiskType:
    images_type = ImagesType.LVM

    def __init__(self, ctx: NodeContext) -> None:
        check_lvm(ctx)
        self.ctx = ctx

    def root(self, job: DiskJob, image: ImageMeta, holds: ExitStack) -> RootDisk:
        raise UnsupportedOperation("lvm disks are not implemented")

    def from_template(self, job: DiskJob, template: BaseFile) -> InstanceDisk:
        raise UnsupportedOperation("lvm disks are not implemented")

    def remove(self, disk: InstanceDisk) -> None:
        raise UnsupportedOperation("lvm disks are not implemented")
