"""File-backed instance disks (``images_type`` qcow2 and raw/flat) and the formatted templates.

* qcow2: a copy-on-write overlay whose backing file is the cached base (backing format always
  given, ``-F``). Overlays of one base and size are all the same ~200 KiB header, so the first
  one is made by qemu-img and kept as a template next to the base; later disks copy it, which
  keeps a warm spawn at a file copy instead of a qemu-img run.
* raw/flat: a full copy of the base (a reflink where the filesystem can, else a sparse copy of
  the data extents only), grown to the flavor size.
* swap and ephemeral: formatted raw templates in the cache (``swap_<MiB>``,
  ``ephemeral_<GiB>_<fs>``) under an overlay or copied, as Nova does.
* config drive: an ISO 9660 image labelled ``config-2`` holding ``openstack/latest``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import tempfile
from pathlib import Path

from cowshed.errors import ExternalToolError, StorageFull
from cowshed.formats.qemu_img import QemuImg
from cowshed.node import tools
from cowshed.node.cache import BaseFile

#: ``ioctl(dst, FICLONE, src)``: share all extents (btrfs, XFS with reflink).
FICLONE = 0x40049409
_COPY_STEP = 64 << 20


def overlay(base: BaseFile, size: int, dst: Path, qemu: QemuImg, templates: Path) -> None:
    """A qcow2 overlay of ``size`` bytes on ``base`` at ``dst`` (a copy of a per-size template)."""
    template = templates / f"{base.name}@{size}.qcow2"
    if not template.is_file():
        templates.mkdir(parents=True, exist_ok=True)
        tmp = templates / f".{template.name}.{secrets.token_hex(4)}"
        try:
            qemu.create(tmp, "qcow2", size, backing=base.path, backing_fmt=base.format)
            os.chmod(tmp, 0o644)
            os.rename(tmp, template)  # concurrent makers write the same bytes: last one wins
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    copy_small(template, dst)


def copy_small(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def copy_base(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` (which must not exist): ``"reflink"`` when the filesystem shared
    the extents, else ``"copy"`` (data extents only, holes stay holes)."""
    with open(src, "rb") as fin:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.ioctl(fd, FICLONE, fin.fileno())
                return "reflink"
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY,
                                     errno.EPERM):
                    raise
            _sparse_copy(fin.fileno(), fd, os.fstat(fin.fileno()).st_size)
            return "copy"
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"no space left copying {src.name} to {dst}") from exc
            raise
        finally:
            os.close(fd)


def _sparse_copy(src: int, dst: int, size: int) -> None:
    for start, end in data_extents(src, size):
        pos = start
        while pos < end:
            n = os.copy_file_range(src, dst, min(_COPY_STEP, end - pos), pos, pos)
            if n == 0:
                break
            pos += n
    os.ftruncate(dst, size)


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of every data region of an open file (holes left out)."""
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                break
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, end))
        pos = end
    return out


def grow_raw(path: Path, size: int) -> None:
    """Grow a raw file to ``size`` bytes (never shrinks; the caller refused a shrink)."""
    if path.stat().st_size < size:
        os.truncate(path, size)


def preallocate(path: Path, size: int) -> None:
    """``preallocate_images = space``: reserve ``size`` bytes without changing the file's size
    (``fallocate -n``, as Nova)."""
    tools.run(["fallocate", "-n", "-l", str(size), str(path)], what=f"preallocating {path.name}",
              package="util-linux")


def supports_direct_io(directory: Path) -> bool:
    """Whether files in ``directory`` can be opened with O_DIRECT (Nova picks cache='none' then,
    else 'writeback')."""
    probe = directory / f".directio.{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
    except OSError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()
    os.close(fd)
    return True


def format_ephemeral(path: Path, fs: str, label: str = "ephemeral0") -> None:
    argv = {"vfat": ["mkfs.vfat", "-n", label.upper()[:11], str(path)],
            "xfs": ["mkfs.xfs", "-q", "-f", "-L", label[:12], str(path)]}.get(
        fs, [f"mkfs.{fs}", "-q", "-F", "-L", label, str(path)])
    tools.run(argv, what="formatting the ephemeral disk",
              package={"vfat": "dosfstools", "xfs": "xfsprogs"}.get(fs, "e2fsprogs"))


def format_swap(path: Path) -> None:
    tools.run(["mkswap", str(path)], what="formatting the swap disk", package="util-linux")


def make_config_drive(dst: Path, instance: str, metadata: dict[str, object]) -> None:
    """An ISO 9660 config drive (label ``config-2``) with ``openstack/latest/meta_data.json``."""
    with tempfile.TemporaryDirectory(prefix="cowshed-cd-") as tmp:
        latest = Path(tmp) / "openstack" / "latest"
        latest.mkdir(parents=True)
        body = {"uuid": instance, "name": instance, "hostname": instance, **metadata}
        (latest / "meta_data.json").write_text(json.dumps(body, sort_keys=True))
        tools.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(dst), "-V", "config-2",
                   "-J", "-r", tmp], what="building the config drive", package="xorriso")
    if not dst.is_file():
        raise ExternalToolError("xorriso wrote no config drive")
    os.chmod(dst, 0o644)
