"""The cache manager: list ``_base``, remove unused old entries, re-verify the ones in use.

One pass (Nova's ``ImageCacheManager.update``, plus checksums):

1. **users**: every instance record names the cache entries its disks depend on (records marked
   ``deleting`` still count until their directory is gone);
2. **in use**: re-verified — an unconverted base against the image's md5 and multihash, a
   converted base or a template against the digest of its data extents (recorded by the first
   pass that sees it, since the image's checksums cover only the unconverted bytes);
3. **unused**: removed when ``remove_unused_base_images`` is on and the entry is older (mtime;
   every use touches it) than ``remove_unused_original_minimum_age_seconds`` (originals, swap,
   ephemeral) or ``remove_unused_resized_minimum_age_seconds`` (``<sha1>_<size>`` names).
   Removal takes the entry's exclusive lock *without waiting* and re-checks users and age inside
   it: a spawn holds the shared lock from finding the base until its instance record exists, so
   a spawn racing the clean-up either keeps the base (busy lock, or a user found inside) or
   finds it gone and fetches it again — it always wins;
4. **leftovers**: fetch work areas and spawn work directories whose owner died, and RBD disks
   of instances that never completed, are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from cowshed.errors import NotFound
from cowshed.node.cache import BaseFile
from cowshed.node.context import NodeContext
from cowshed.node.files import read_json
from cowshed.node.files_disks import data_extents
from cowshed.node.settings import ImagesType
from cowshed.node.snapshot import pending_image_id, pending_snapshots
from cowshed.node.spawn import reconcile_instance

_ORIGINAL = re.compile(r"^[0-9a-f]{40}$")
_RESIZED = re.compile(r"^[0-9a-f]{40}_.+$")
_READ = 8 << 20
#: names of the RBD images the node makes (``<instance>_disk[.eph0|.swap|.config]``); nothing
#: else in the pool is ever touched.
RBD_DISK = re.compile(r"^(?P<instance>[A-Za-z0-9][A-Za-z0-9.-]{0,63})_disk(\.[a-z0-9]+)?$")


def entry_kind(name: str) -> str:
    if _ORIGINAL.match(name):
        return "original"
    if _RESIZED.match(name):
        return "resized"
    if name.startswith("swap_"):
        return "swap"
    if name.startswith("ephemeral_"):
        return "ephemeral"
    return "unknown"


@dataclass(frozen=True)
class CacheEntry:
    name: str
    kind: str
    image_id: str
    format: str
    virtual_size: int
    #: bytes the file occupies on disk.
    allocated: int
    age_seconds: float
    users: list[str] = field(default_factory=list)
    converted: bool = False

    def record(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class CleanReport:
    removed: list[str] = field(default_factory=list)
    in_use: list[str] = field(default_factory=list)
    too_young: list[str] = field(default_factory=list)
    #: unused entries left because a spawn held them at that moment.
    busy: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    leftovers_removed: list[str] = field(default_factory=list)

    def record(self) -> dict[str, object]:
        return asdict(self)


def users_by_entry(ctx: NodeContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in ctx.store.records():
        for base in record.bases:
            out.setdefault(base, []).append(record.instance)
    return out


def list_entries(ctx: NodeContext) -> list[CacheEntry]:
    users = users_by_entry(ctx)
    now = time.time()
    out = []
    for name in ctx.cache.names():
        path = ctx.cache.root / name
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        base = ctx.cache.load(name)
        out.append(CacheEntry(
            name=name, kind=entry_kind(name), image_id=base.image_id if base else "",
            format=base.format if base else "unknown",
            virtual_size=base.virtual_size if base else st.st_size,
            allocated=st.st_blocks * 512, age_seconds=round(now - st.st_mtime, 3),
            users=sorted(users.get(name, [])), converted=bool(base and base.converted),
        ))
    return out


def clean(ctx: NodeContext, *, verify: bool = True) -> CleanReport:
    report = CleanReport()
    _remove_leftovers(ctx, report)
    users = users_by_entry(ctx)
    for name in ctx.cache.names():
        if users.get(name):
            report.in_use.append(name)
            if verify:
                _verify(ctx, name, report)
        elif ctx.node.remove_unused_base_images:
            _maybe_remove(ctx, name, report)
    return report


def _max_age(ctx: NodeContext, name: str) -> int:
    if entry_kind(name) == "resized":
        return ctx.node.remove_unused_resized_minimum_age_seconds
    return ctx.node.remove_unused_original_minimum_age_seconds


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _maybe_remove(ctx: NodeContext, name: str, report: CleanReport) -> None:
    path = ctx.cache.root / name
    age = _age(path)
    if age is None:
        return
    if age < _max_age(ctx, name):
        report.too_young.append(name)
        return
    fd = ctx.locks.try_hold(name)
    if fd is None:
        report.busy.append(name)
        return
    try:
        # inside the lock: no spawn is between "found it" and "recorded it"; look again
        age = _age(path)
        if users_by_entry(ctx).get(name) or age is None or age < _max_age(ctx, name):
            report.busy.append(name)
            return
        ctx.cache.remove(name)
        report.removed.append(name)
    finally:
        os.close(fd)


def _verify(ctx: NodeContext, name: str, report: CleanReport) -> None:
    base = ctx.cache.load(name)
    if base is None:
        return
    ok = _check_base(ctx, base)
    (report.verified if ok else report.corrupt).append(name)


def _check_base(ctx: NodeContext, base: BaseFile) -> bool:
    src = base.source
    if src is not None and not base.converted and (src.checksum or src.os_hash_value):
        md5 = hashlib.md5(usedforsecurity=False)
        multi = hashlib.new(src.os_hash_algo or "sha512")
        with open(base.path, "rb") as fh:
            while block := fh.read(_READ):
                md5.update(block)
                multi.update(block)
        return (not src.checksum or md5.hexdigest() == src.checksum) and (
            not src.os_hash_value or multi.hexdigest() == src.os_hash_value)
    digest = extents_digest(base.path)
    if not base.digest:
        ctx.cache.save_record(replace(base, digest=digest))  # first verification records it
        return True
    return digest == base.digest


def extents_digest(path: Path) -> str:
    """``sha256:…`` over each data extent's offset, length and bytes (holes are skipped, so
    the cost follows the data, not the virtual size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        for start, end in data_extents(fh.fileno(), size):
            digest.update(f"{start}:{end - start};".encode())
            fh.seek(start)
            remaining = end - start
            while remaining:
                block = fh.read(min(_READ, remaining))
                if not block:
                    break
                digest.update(block)
                remaining -= len(block)
    return "sha256:" + digest.hexdigest()


def _remove_leftovers(ctx: NodeContext, report: CleanReport) -> None:
    fetch = ctx.cache.root / ".fetch"
    if fetch.is_dir():
        for work in fetch.iterdir():
            fd = ctx.locks.try_hold(work.name)
            if fd is None:
                continue  # a fetch is running
            try:
                shutil.rmtree(work, ignore_errors=True)
                report.leftovers_removed.append(f"_base/.fetch/{work.name}")
            finally:
                os.close(fd)
    _remove_dead_snapshots(ctx, report)
    owners = {n for n in map(ctx.store.work_owner, ctx.store.stale_work_dirs()) if n}
    rbd_names: list[str] | None = None
    if ctx.node.images_type.effective is ImagesType.RBD:
        rbd_names = ctx.rbd.names()
        owners |= {m["instance"] for m in map(RBD_DISK.match, rbd_names) if m}
    for name in sorted(owners):
        if ctx.store.exists(name):
            continue
        fd = ctx.locks.try_hold(f"instance-{name}")
        if fd is None:
            continue  # that instance is being spawned or deleted right now
        try:
            report.leftovers_removed += reconcile_instance(ctx, name, rbd_names)
        finally:
            os.close(fd)


def _remove_dead_snapshots(ctx: NodeContext, report: CleanReport) -> None:
    """Work directories of snapshots whose process died: delete the image record if it never
    became active, then the directory."""
    for work in pending_snapshots(ctx):
        data = read_json(work / "pending.json") or {}
        instance = str(data.get("instance") or "")
        fd = ctx.locks.try_hold(f"instance-{instance}") if instance else None
        if instance and fd is None:
            continue  # the snapshot is still running
        try:
            image_id = pending_image_id(work)
            if image_id:
                with contextlib.suppress(NotFound):
                    if ctx.client.show(image_id).status != "active":
                        ctx.client.delete(image_id)
            shutil.rmtree(work, ignore_errors=True)
            report.leftovers_removed.append(f"snapshots/{work.name}")
        finally:
            if fd is not None:
                os.close(fd)
