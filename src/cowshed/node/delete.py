"""Deleting an instance's disks: mark, wipe (``volume_clear``), remove, forget.

The record is first rewritten with ``deleting: true`` so nothing treats the instance as whole
any more (disk-xml and snapshot refuse it, a new spawn of the name waits for the delete to be
finished); then each disk is wiped and removed, keys and the instance directory go last. A crash
in between leaves a record marked ``deleting`` whose next delete finishes the job (disks that
are already gone are skipped).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from cowshed.domain.instance_disks import InstanceDisk, SourceType
from cowshed.errors import UnsupportedOperation
from cowshed.node.context import NodeContext
from cowshed.node.files import atomic_write_json, read_json
from cowshed.node.instances import RECORD
from cowshed.node.libvirt import Virsh
from cowshed.node.wipe import WipeReceipt, wipe_disk


@dataclass(frozen=True)
class DeleteReport:
    instance: str
    receipts: list[WipeReceipt] = field(default_factory=list)
    receipt_file: str = ""

    def record(self) -> dict[str, object]:
        return {"instance": self.instance, "receipt_file": self.receipt_file,
                "receipts": [r.record() for r in self.receipts],
                "verified": all(r.verified or r.method == "none" or r.note
                                for r in self.receipts)}


def delete_instance(ctx: NodeContext, name: str) -> DeleteReport:
    """Wipe and remove every disk of ``name`` (the caller holds the instance lock)."""
    record = ctx.store.load(name)
    _mark_deleting(ctx.store.dir(name) / RECORD)
    node = ctx.node
    receipts = []
    rbd = ctx.rbd if any(d.source_type is SourceType.NETWORK and not d.volume_id
                         for d in record.disks) else None
    for disk in record.disks:
        if disk.volume_id:
            # the volume service's volume: detached, never wiped or removed here
            if disk.attachment_id:
                ctx.volumes.detach(disk.attachment_id)
            continue
        receipt = wipe_disk(disk, node.volume_clear, node.volume_clear_size << 20, rbd)
        remove_disk(ctx, disk)
        receipts.append(_removed(receipt))
    for disk in record.disks:
        if disk.encryption is not None:
            Virsh(node.libvirt_uri).undefine_secret(disk.encryption.secret_uuid)
            ctx.keys.delete(disk.encryption.secret_uuid)
    report_path = _save_receipts(ctx, name, receipts)
    ctx.store.remove_dir(name)
    return DeleteReport(name, receipts, str(report_path))


def _mark_deleting(path: Path) -> None:
    data = read_json(path)
    if data is not None and not data.get("deleting"):
        data["deleting"] = True
        atomic_write_json(path, data)


def remove_disk(ctx: NodeContext, disk: InstanceDisk) -> None:
    """Remove one disk by what it is (file, RBD image); a disk already gone is fine."""
    if disk.source_type is SourceType.FILE:
        with contextlib.suppress(FileNotFoundError):
            Path(disk.path).unlink()
    elif disk.source_type is SourceType.NETWORK:
        ctx.rbd.remove(disk.path.split("/", 1)[1])
    else:
        raise UnsupportedOperation(f"cannot remove a {disk.source_type} disk")


def _removed(receipt: WipeReceipt) -> WipeReceipt:
    return replace(receipt, removed=True)


def _save_receipts(ctx: NodeContext, name: str, receipts: list[WipeReceipt]) -> Path:
    path = ctx.instances_path / "_wipe" / f"{name}-{time.time_ns()}.json"
    atomic_write_json(path, {"instance": name, "receipts": [r.record() for r in receipts]})
    return path
