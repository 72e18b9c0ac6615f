"""The base-image cache: ``<instances_path>/_base``, filled from the image service once per host.

Layout (Nova's names)::

    _base/<sha1(image id)>          a base image, immutable once published
    _base/swap_<MiB>                a formatted swap template
    _base/ephemeral_<GiB>_<fs>      a formatted ephemeral template
    _base/.meta/<name>.json         what we know about a base (source checksums, format, size)
    _base/.fetch/<name>/            work area of a fetch in progress (removed when it ends)
    locks/cowshed-<name>            the entry's lock

Protocol for one entry, under its lock (:mod:`cowshed.node.locks`):

* **use** (every spawn): shared lock; if the entry is published, touch its mtime (it was just
  used; Nova does the same) and hand it to the caller, who makes its disks and records the
  instance *while still holding the shared lock*. So clean-up, which needs the exclusive lock and
  re-checks the users inside it, can never remove a base between "found" and "recorded".
* **fetch** (first spawn of an image): exclusive lock; re-check, then stream the data once:
  the format inspector sees every byte before qemu-img sees any; md5 and the multihash are
  computed beside the download (:mod:`cowshed.node.hashing`, trailing it by a few chunks, so
  the conversion can start while they finish) and compared to the image's ``checksum`` /
  ``os_hash_value`` before anything is published — a mismatch publishes nothing, even when
  qemu-img already converted the (inspected) bytes; ``force_raw_images`` converts through
  :func:`cowshed.formats.policy.convert_for_store` (qemu-img info must agree, backing/data
  files refused, output fsynced and inspected). The sidecar is written first and the base is
  published last, by rename, so after a crash the base is either whole or absent. N spawns
  of one uncached image therefore cause one download: the others wait on the lock and find
  the base published.

The work area of a fetch belongs to whoever holds the entry's exclusive lock; a new holder
removes what a dead one left.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from cowshed.backends.base import StoredObject, Writer
from cowshed.backends.file import FileBackend, FileConfig
from cowshed.errors import (
    DataCorrupted,
    InvalidRequest,
    NotFound,
    UnsupportedOperation,
)
from cowshed.formats.inspect import InspectorConfig, StreamInspector, inspect_file
from cowshed.formats.policy import (
    ConversionPolicy,
    ConversionResult,
    ConversionTarget,
    convert_for_store,
)
from cowshed.formats.qemu_img import QemuImg
from cowshed.formats.types import qemu_driver
from cowshed.node.files import atomic_write_json, fsync_dir, read_json
from cowshed.node.hashing import TrailingHashes
from cowshed.node.imageservice import ImageMeta, ImageServiceClient
from cowshed.node.locks import LockDir
from cowshed.services.ingest import Ingest

#: container formats whose data is a disk the node can boot from.
BOOTABLE_CONTAINERS = frozenset({"bare", "ami", "aki", "ari"})
#: largest image the cache accepts, bytes.
SIZE_CAP = 1 << 40


def base_name(image_id: str) -> str:
    """Nova's ``imagecache.get_cache_fname``: the sha1 of the image id, in hex."""
    return hashlib.sha1(image_id.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class SourceFacts:
    """The image as the image service described it, and what the download proved."""

    disk_format: str
    size: int
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None


@dataclass(frozen=True)
class BaseFile:
    """A published cache entry."""

    name: str
    path: Path
    #: qemu driver of the file: ``raw`` or ``qcow2`` (…)
    format: str
    virtual_size: int
    #: image id for image bases; empty for swap/ephemeral templates.
    image_id: str
    #: True when the file is the converted form of the image (so its checksums do not apply).
    converted: bool
    source: SourceFacts | None
    fetched_at: float
    #: ``sha256:…`` of the file's data extents, recorded by the first clean-up pass that
    #: verifies a converted base (the image's checksums cover the unconverted bytes only).
    digest: str = ""

    def record(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


class ImageCache:
    """The ``_base`` directory of one ``instances_path``."""

    def __init__(self, instances_path: Path, locks: LockDir, qemu: QemuImg, *,
                 force_raw: bool, inspector: InspectorConfig | None = None) -> None:
        self.root = instances_path / "_base"
        self.meta_dir = self.root / ".meta"
        self.locks = locks
        self.qemu = qemu
        self.force_raw = force_raw
        self.inspector = inspector or InspectorConfig()

    # -- reading ---------------------------------------------------------------------------

    def load(self, name: str) -> BaseFile | None:
        """The published entry ``name``, or None (absent, or its sidecar is missing/stale)."""
        path = self.root / name
        data = read_json(self.meta_dir / f"{name}.json")
        if data is None or not path.is_file():
            return None
        source = data.get("source")
        return BaseFile(
            name=name, path=path, format=str(data["format"]),
            virtual_size=int(data["virtual_size"]), image_id=str(data.get("image_id") or ""),
            converted=bool(data.get("converted")),
            source=SourceFacts(**source) if isinstance(source, dict) else None,
            fetched_at=float(data.get("fetched_at") or 0.0), digest=str(data.get("digest") or ""),
        )

    def names(self) -> list[str]:
        """Every published entry name (files in ``_base`` that are not ours to hide)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_file() and not p.name.startswith("."))

    def save_record(self, base: BaseFile) -> None:
        atomic_write_json(self.meta_dir / f"{base.name}.json", base.record())

    # -- using -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def use_image(self, client: ImageServiceClient, image: ImageMeta) -> Iterator[BaseFile]:
        """The image's base, fetched first if needed, held (shared lock) for the block."""
        _check_bootable(image)
        name = base_name(image.id)
        with self.use(name, lambda: self._fetch(client, image, name)) as base:
            yield base

    @contextlib.contextmanager
    def use(self, name: str, make: Callable[[], None]) -> Iterator[BaseFile]:
        """Entry ``name`` under a shared lock; ``make()`` (run under the exclusive lock, after a
        re-check) publishes it when it is missing."""
        for _ in range(5):
            with self.locks.hold(name, shared=True):
                base = self.load(name)
                if base is not None:
                    self._check_unchanged(base)
                    _touch(base.path)
                    yield base
                    return
            with self.locks.hold(name):
                if self.load(name) is None:
                    make()
        raise NotFound(f"cache entry {name} vanished repeatedly while spawning")

    def _check_unchanged(self, base: BaseFile) -> None:
        """Re-run the format inspector on the base before each use, as Nova does (bug 2059809):
        a base that became something else is never handed to qemu-img or a guest."""
        inspect_file(base.path, base.format if base.format != "raw" else "raw",
                     config=self.inspector)

    # -- fetching --------------------------------------------------------------------------

    def _fetch(self, client: ImageServiceClient, image: ImageMeta, name: str) -> None:
        """Download, verify, inspect, convert and publish ``image`` as ``name``.

        Runs under the entry's exclusive lock. Raises DataCorrupted on a checksum mismatch,
        SizeMismatch on a short or long body, UnsafeImage for refused bytes; nothing is
        published then and the work area is removed.
        """
        work = self.root / ".fetch" / name
        shutil.rmtree(work, ignore_errors=True)  # a dead fetcher's leftovers
        work.mkdir(parents=True)
        algo = image.os_hash_algo or "sha512"
        hashes = TrailingHashes(algo)
        try:
            size = self._download(client, image, work, hashes)
            converted = self._convert(work, str(image.disk_format))
            md5, multihash = hashes.result()  # the conversion ran while they finished
            _verify_download(image, md5, algo, multihash)
            source = SourceFacts(disk_format=str(image.disk_format), size=size, checksum=md5,
                                 os_hash_algo=algo, os_hash_value=multihash)
            self._publish(image, name, converted, source)
        finally:
            hashes.close()
            shutil.rmtree(work, ignore_errors=True)

    def _download(self, client: ImageServiceClient, image: ImageMeta, work: Path,
                  hashes: TrailingHashes) -> int:
        """Receive, inspect and write the data as ``work/data``; the bytes go to ``hashes``
        too, which may still be digesting them when this returns. The size received."""
        fmt = str(image.disk_format)
        writer: Writer
        if self.force_raw and _converted(fmt):
            # scratch: qemu-img reads it from the page cache and only its output is kept
            # (and fsynced), so syncing these bytes would only add a disk flush
            writer = ScratchWriter(work / "data")
        else:
            store = FileBackend("node-cache", FileConfig(filesystem_store_datadir=str(work),
                                                         filesystem_store_file_perm=0o644))
            writer = store.open_writer("data", image.size)
        ingest = Ingest(writer, expected_size=image.size, size_cap=SIZE_CAP,
                        inspector=StreamInspector(fmt, config=self.inspector), hashing=False)
        try:
            for chunk in _prefetch(client.download(image.id)):
                ingest.process(chunk)  # size cap, inspector (before qemu-img sees a byte), write
                hashes.feed(chunk)
            result = ingest.finish()
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return result.size

    def _convert(self, work: Path, disk_format: str) -> ConversionResult:
        """``work/data`` checked by qemu-img and, with ``force_raw_images``, converted."""
        target = ConversionTarget.RAW if self.force_raw else ConversionTarget.KEEP
        policy = ConversionPolicy(target=target, inspector=self.inspector)
        return convert_for_store(work / "data", disk_format, work / "converted", policy,
                                 self.qemu)

    def _publish(self, image: ImageMeta, name: str, result: ConversionResult,
                 source: SourceFacts) -> None:
        fmt = qemu_driver(result.disk_format)
        virtual = result.virtual_size if result.virtual_size is not None else result.size
        base = BaseFile(name=name, path=self.root / name, format=fmt, virtual_size=virtual,
                        image_id=image.id, converted=result.converted, source=source,
                        fetched_at=time.time())
        self.save_record(base)  # sidecar first: a base never exists without one
        os.chmod(result.path, 0o644)
        os.rename(result.path, base.path)
        fsync_dir(self.root)

    # -- templates (swap, ephemeral) --------------------------------------------------------

    @contextlib.contextmanager
    def use_template(self, name: str, size: int, build: Callable[[Path], None]
                     ) -> Iterator[BaseFile]:
        """A formatted raw template ``name`` of ``size`` bytes, built once by ``build(path)``."""
        def make() -> None:
            work = self.root / ".fetch" / name
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            try:
                part = work / "data"
                with part.open("wb") as fh:
                    fh.truncate(size)
                build(part)
                _fsync(part)
                base = BaseFile(name=name, path=self.root / name, format="raw",
                                virtual_size=size, image_id="", converted=False, source=None,
                                fetched_at=time.time())
                self.save_record(base)
                os.chmod(part, 0o644)
                os.rename(part, base.path)
                fsync_dir(self.root)
            finally:
                shutil.rmtree(work, ignore_errors=True)

        with self.use(name, make) as base:
            yield base

    # -- removal (clean-up only, under the exclusive lock) ---------------------------------

    def remove(self, name: str) -> None:
        """Unpublish ``name``: the base first, then its sidecar and overlay templates."""
        with contextlib.suppress(FileNotFoundError):
            (self.root / name).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.meta_dir / f"{name}.json").unlink()
        for template in self.overlay_templates(name):
            with contextlib.suppress(FileNotFoundError):
                template.unlink()
        fsync_dir(self.root)

    def overlay_templates(self, name: str) -> list[Path]:
        folder = self.root / ".overlays"
        return sorted(folder.glob(f"{name}@*")) if folder.is_dir() else []


def _converted(disk_format: str) -> bool:
    """Whether ``force_raw_images`` converts this format (raw-like formats stay as they are)."""
    return qemu_driver(disk_format) != "raw"


class ScratchWriter:
    """A backend Writer for bytes that are converted and then dropped: dense writes, no fsync;
    ``commit`` only closes the file (the path is known to the caller)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = path.open("xb")

    def write(self, data: bytes | memoryview) -> None:
        if self._fh is None:
            raise InvalidRequest("write after commit or abort")
        self._fh.write(data)

    def commit(self) -> StoredObject:
        if self._fh is None:
            raise InvalidRequest("commit after commit or abort")
        size = self._fh.tell()
        self._fh.close()
        self._fh = None
        return StoredObject(key=self.path.name, size=size, location=self.path.as_uri())

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _check_bootable(image: ImageMeta) -> None:
    if image.status != "active":
        raise InvalidRequest(f"image {image.id} is {image.status}, not active")
    if not image.disk_format:
        raise InvalidRequest(f"image {image.id} has no disk_format")
    if image.container_format not in BOOTABLE_CONTAINERS:
        raise UnsupportedOperation(
            f"image {image.id}: container_format {image.container_format!r} is not a disk"
        )
    if image.size is None:
        raise InvalidRequest(f"image {image.id} has no size")


def _verify_download(image: ImageMeta, md5: str, algo: str, multihash: str) -> None:
    """The hashes of the bytes received against the ones the image service recorded."""
    if image.checksum and image.checksum != md5:
        raise DataCorrupted(
            f"image {image.id}: md5 of the downloaded data is {md5}, the image service "
            f"recorded {image.checksum}"
        )
    if image.os_hash_value and image.os_hash_value != multihash:
        raise DataCorrupted(
            f"image {image.id}: {algo} of the downloaded data does not match os_hash_value"
        )


def _prefetch(chunks: Iterable[bytes], depth: int = 2) -> Iterator[bytes]:
    """Receive the next chunks in a thread while the caller hashes and writes this one."""
    q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    break
                q.put(chunk)
            q.put(None)
        except BaseException as exc:
            q.put(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # ends the HTTP response when the consumer stopped early

    thread = threading.Thread(target=pump, name="cowshed-fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        thread.join(timeout=30)


def _touch(path: Path) -> None:
    with contextlib.suppress(PermissionError):
        os.utime(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

