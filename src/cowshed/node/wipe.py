"""Destroying a deleted disk's data (``volume_clear``) and the receipt that proves it.

Methods (Nova's ``[libvirt] volume_clear``, applied here to every backend, not only LVM):

* ``none``: the disk is removed without overwriting anything;
* ``zero``: one pass of zeros; on RBD a discard, which suffices there (RADOS drops the objects
  and the range reads back as zeros) — for a clone ``write_zeroes``, because a discarded range
  of a clone reads as its parent's data again;
* ``shred``: three passes of pseudo-random data (``shred -n3``), then the disk is removed.

Only what holds data is overwritten: for files the allocated extents (a sparse qcow2 overlay
is mostly holes), for RBD the extents the image itself wrote. ``volume_clear_size`` limits the
work to the first that many MiB (0: everything).

The receipt says what was overwritten, how, and carries a read-back sample: up to eight
4 KiB blocks inside the overwritten range, hashed before the wipe and read again after it
(all zeros for ``zero``, different from before for ``shred``). ``verified`` is True only when
every sampled block passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cowshed.domain.instance_disks import InstanceDisk, SourceType
from cowshed.errors import UnsupportedOperation
from cowshed.node.files_disks import data_extents
from cowshed.node.rbd import NodeRbd
from cowshed.node.settings import VolumeClear

SAMPLE = 4096
SAMPLES = 8
_PASS_BLOCK = 4 << 20
_SHRED_PASSES = 3


@dataclass(frozen=True)
class WipeReceipt:
    """What happened to one disk's bytes."""

    disk: str
    path: str
    method: str
    passes: int
    bytes_overwritten: int
    extents: int
    #: ``volume_clear_size`` in bytes (0: the whole disk).
    clear_limit: int
    #: offsets of the sampled blocks and whether each read back as required.
    sample_offsets: list[int] = field(default_factory=list)
    sample_ok: list[bool] = field(default_factory=list)
    verified: bool = False
    removed: bool = False
    at: float = 0.0
    note: str = ""

    def record(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Target:
    """A disk seen as extents that can be read and written at offsets."""

    extents: list[tuple[int, int]]
    read: Callable[[int, int], bytes]
    write: Callable[[int, bytes], None]
    sync: Callable[[], None]
    #: zero a range by discarding it (RBD), when that suffices.
    discard: Callable[[int, int], None] | None = None


def _limit(extents: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    if not limit:
        return extents
    return [(s, min(e, limit)) for s, e in extents if s < limit]


def _sample_offsets(extents: list[tuple[int, int]]) -> list[int]:
    blocks = [(s, e) for s, e in extents if e - s >= SAMPLE]
    if not blocks:
        return []
    chosen: list[int] = []
    picks = [blocks[0][0], blocks[-1][1] - SAMPLE]
    rng = random.Random(secrets.randbits(64))
    for _ in range(SAMPLES - len(picks)):
        s, e = rng.choice(blocks)
        picks.append(s + (rng.randrange(0, e - s - SAMPLE + 1) // SAMPLE) * SAMPLE)
    for off in picks:
        if off not in chosen:
            chosen.append(off)
    return chosen[:SAMPLES]


def _overwrite(target: _Target, method: VolumeClear) -> int:
    """Run the passes; return how many."""
    if method is VolumeClear.ZERO and target.discard is not None:
        for s, e in target.extents:
            target.discard(s, e - s)
        target.sync()
        return 1
    passes = 1 if method is VolumeClear.ZERO else _SHRED_PASSES
    zeros = bytes(_PASS_BLOCK)
    for _ in range(passes):
        rng = random.Random(secrets.randbits(128))
        for s, e in target.extents:
            pos = s
            while pos < e:
                n = min(_PASS_BLOCK, e - pos)
                block = zeros[:n] if method is VolumeClear.ZERO else rng.randbytes(n)
                target.write(pos, block)
                pos += n
        target.sync()
    return passes


def wipe(target: _Target, disk: InstanceDisk, method: VolumeClear, limit: int) -> WipeReceipt:
    """Overwrite ``target`` per ``method`` and check a sample; the caller removes the disk."""
    extents = _limit(target.extents, limit)
    target = _Target(extents, target.read, target.write, target.sync, target.discard)
    if method is VolumeClear.NONE:
        return WipeReceipt(disk.name, disk.path, str(method), 0, 0, len(extents), limit,
                           at=time.time(), note="volume_clear = none: data not overwritten")
    offsets = _sample_offsets(extents)
    before = [hashlib.sha256(target.read(off, SAMPLE)).digest() for off in offsets]
    passes = _overwrite(target, method)
    written = sum(e - s for s, e in extents)
    after = [target.read(off, SAMPLE) for off in offsets]
    if method is VolumeClear.ZERO:
        ok = [block == bytes(SAMPLE) for block in after]
    else:
        ok = [hashlib.sha256(a).digest() != b for a, b in zip(after, before, strict=True)]
    return WipeReceipt(
        disk.name, disk.path, str(method), passes, written, len(extents), limit,
        sample_offsets=offsets, sample_ok=ok, verified=all(ok), at=time.time(),
        note="" if offsets else "nothing was allocated: no data to overwrite",
    )


# -- targets ----------------------------------------------------------------------------------


@contextlib.contextmanager
def file_target(path: Path) -> Iterator[_Target]:
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        yield _Target(
            extents=data_extents(fd, size),
            read=lambda off, n: os.pread(fd, n, off),
            write=lambda off, data: _pwrite_all(fd, data, off),
            sync=lambda: os.fsync(fd),
        )
    finally:
        os.close(fd)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


@contextlib.contextmanager
def rbd_target(rbd: NodeRbd, name: str) -> Iterator[_Target]:
    image = rbd.image(name)
    try:
        size = int(image.size())
        extents: list[tuple[int, int]] = []

        def found(offset: int, length: int, exists: bool) -> int:
            if exists:
                extents.append((offset, offset + length))
            return 0

        if size:
            image.diff_iterate(0, size, None, found, include_parent=False, whole_object=False)
        # a discarded range of a clone reads as its parent again; write_zeroes masks it
        is_clone = rbd.parent(name) is not None
        yield _Target(
            extents=sorted(extents),
            read=lambda off, n: bytes(image.read(off, n)),
            write=lambda off, data: image.write(data, off),
            sync=image.flush,
            discard=image.write_zeroes if is_clone else image.discard,
        )
    finally:
        image.close()


def wipe_disk(disk: InstanceDisk, method: VolumeClear, limit: int, rbd: NodeRbd | None
              ) -> WipeReceipt:
    """Wipe one disk in place (it still exists afterwards)."""
    if disk.source_type is SourceType.FILE:
        path = Path(disk.path)
        if not path.exists():
            return WipeReceipt(disk.name, disk.path, str(method), 0, 0, 0, limit,
                               at=time.time(), note="already gone")
        with file_target(path) as target:
            return wipe(target, disk, method, limit)
    if disk.source_type is SourceType.NETWORK and rbd is not None:
        name = disk.path.split("/", 1)[1]
        if not rbd.exists(name):
            return WipeReceipt(disk.name, disk.path, str(method), 0, 0, 0, limit,
                               at=time.time(), note="already gone")
        with rbd_target(rbd, name) as target:
            return wipe(target, disk, method, limit)
    raise UnsupportedOperation(f"cannot wipe a {disk.source_type} disk")
