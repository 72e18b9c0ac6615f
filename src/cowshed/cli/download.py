"""``cowshed image download``: verified, sparse, resumable, never overwriting by surprise.

The data goes to ``OUT.part``; size, md5 (``checksum``) and the multihash (``os_hash_value``)
are checked as it arrives; only then is the file fsynced and renamed to ``OUT``. All-zero
regions are skipped with a seek, so a sparse image stays sparse on disk. If the transfer stops
(Ctrl-C, a dropped connection), ``OUT.part`` is kept and ``--resume`` continues it: the part's
bytes are hashed again and the rest is asked for from that offset (an HTTP Range request when
remote). Data that does not match the record is never kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cowshed.cli.image_ops import Advance, ImageOps
from cowshed.cli.output import Record
from cowshed.errors import DataCorrupted, Gone, InvalidRequest

#: granularity of hole detection: zero runs shorter than this are written.
HOLE = 64 << 10
_ZEROS = bytes(HOLE)
#: exit status when the reader of ``--file -`` went away (128 + SIGPIPE), as ``cat`` gives.
EXIT_BROKEN_PIPE = 141


class Verifier:
    """Size, md5 and multihash of a record, fed block by block (hashes in two threads)."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        algo = record.get("os_hash_algo")
        self.multi = hashlib.new(algo) if algo else None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cowshed-verify")
        self._pending: list[Future[None]] = []

    def feed(self, block: bytes) -> None:
        self.wait()  # the previous block's hashes ran while this one was read
        self.size += len(block)
        self._pending = [self._pool.submit(self.md5.update, block)]
        if self.multi is not None:
            self._pending.append(self._pool.submit(self.multi.update, block))

    def wait(self) -> None:
        for future in self._pending:
            future.result()
        self._pending = []

    def check(self) -> str:
        """DataCorrupted unless everything matches; else what was verified (for the message)."""
        self.wait()
        self._pool.shutdown()
        rec = self.record
        if rec.get("size") is not None and self.size != rec["size"]:
            raise DataCorrupted(f"Image {rec['id']}: read {self.size} bytes, expected "
                                f"{rec['size']}")
        if rec.get("checksum") and self.md5.hexdigest() != rec["checksum"]:
            raise DataCorrupted(f"Image {rec['id']}: md5 {self.md5.hexdigest()} does not match "
                                f"the recorded checksum {rec['checksum']}")
        if self.multi is not None and self.multi.hexdigest() != rec.get("os_hash_value"):
            raise DataCorrupted(f"Image {rec['id']}: {rec['os_hash_algo']} does not match the "
                                f"recorded os_hash_value")
        return "md5 and " + rec["os_hash_algo"] if self.multi is not None else "md5"


@dataclass(frozen=True)
class Saved:
    path: Path
    size: int
    verified: str
    resumed_from: int


def to_stdout(ops: ImageOps, record: Record, advance: Advance) -> None:
    """Stream to stdout, checked; a reader that stops early (``| head``) ends us quietly."""
    out = sys.stdout.buffer
    verifier = Verifier(record)
    try:
        for block in ops.read(record["id"], 0):
            verifier.feed(block)
            out.write(block)
            advance(len(block))
        out.flush()
    except BrokenPipeError:
        # the reader is gone: nothing left to say to it; silence the interpreter's own
        # flush of the dead pipe at exit, and end as a process killed by SIGPIPE would
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        raise SystemExit(EXIT_BROKEN_PIPE) from None
    verifier.check()


def to_file(ops: ImageOps, record: Record, dest: Path, *, force: bool, resume: bool,
            advance: Advance) -> Saved:
    """Download into ``dest`` through ``dest.part``; see the module docstring."""
    if dest.exists() and not force:
        raise InvalidRequest(f"{dest} exists; pass --force to overwrite it")
    part = dest.with_name(dest.name + ".part")
    verifier = Verifier(record)
    offset = _resume_from(part, record, verifier, advance) if resume else 0
    with _open_part(part, offset) as fh:
        try:
            _write_sparse(fh, ops.read(record["id"], offset), offset, verifier, advance)
        except (DataCorrupted, Gone):  # bad or vanished data: nothing worth resuming
            part.unlink(missing_ok=True)
            raise
        verified = _check_or_drop(verifier, part)
        os.fsync(fh.fileno())
    os.replace(part, dest)
    return Saved(dest, verifier.size, verified, offset)


def _check_or_drop(verifier: Verifier, part: Path) -> str:
    try:
        return verifier.check()
    except DataCorrupted:
        part.unlink(missing_ok=True)
        raise


def _resume_from(part: Path, record: Record, verifier: Verifier, advance: Advance) -> int:
    """Hash what ``part`` already holds; its length is where the transfer continues."""
    try:
        have = part.stat().st_size
    except FileNotFoundError:
        return 0
    size = record.get("size")
    if size is not None and have > size:
        part.unlink()  # longer than the image: not a part of this one
        return 0
    with part.open("rb") as fh:
        while block := fh.read(8 << 20):
            verifier.feed(block)
            advance(len(block))
    return have


@contextlib.contextmanager
def _open_part(part: Path, offset: int) -> Iterator[BinaryIO]:
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | (0 if offset else os.O_TRUNC), 0o644)
    with os.fdopen(fd, "wb", buffering=0) as fh:
        fh.seek(offset)
        yield fh


def _write_sparse(fh: BinaryIO, blocks: Iterator[bytes], offset: int, verifier: Verifier,
                  advance: Advance) -> None:
    """Write ``blocks`` from ``offset``, seeking over all-zero ``HOLE``-sized runs; the final
    truncate gives a trailing hole its length."""
    pos = offset
    for block in blocks:
        verifier.feed(block)
        view = memoryview(block)
        for start in range(0, len(view), HOLE):
            piece = view[start:start + HOLE]
            if piece != (_ZEROS if len(piece) == HOLE else bytes(len(piece))):
                os.pwrite(fh.fileno(), piece, pos + start)
        pos += len(block)
        advance(len(block))
    os.ftruncate(fh.fileno(), pos)
