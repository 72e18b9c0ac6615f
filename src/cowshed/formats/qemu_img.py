"""The only place cowshed runs qemu-img.

Rules every call follows (Glance, Nova and Cinder learned each of them from a CVE):

* the image format is always given (``-f``; ``-F`` for a backing file; ``--image-opts``
  ``driver=`` for ``snapshot``, which has no ``-f``), never probed;
* file names are absolute paths; relative names and protocol or ``json:`` specifications are
  refused (CVE-2024-4467);
* qemu-img runs under CPU-time and address-space limits (``prlimit``) and a wall-clock timeout,
  because crafted headers can make it eat memory and CPU (bug 1449062), and dies with the
  server (``setpriv --pdeathsig``): a killed server leaves no conversion running behind it;
* ``info`` output is JSON, parsed into typed records, and the format qemu-img reports must equal
  the one requested (nova bug 2071734).

Callers must only hand qemu-img bytes that passed :mod:`cowshed.formats.inspect`: ``info`` on a
qcow2 with an external data file already opens that file.

A :class:`QemuImg` instance holds the limits and an optional audit callback that sees every
argv before it runs, so tests can prove what ran (or that nothing did). ``prlimit`` and
``setpriv`` are used instead of a ``preexec_fn`` because the server runs threads, where
``preexec_fn`` may deadlock.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cowshed.errors import (
    ExternalToolError,
    InvalidRequest,
    StorageFull,
    UnsafeImage,
    UnsupportedOperation,
)
from cowshed.formats.qcow2_overlay import PLACEHOLDER, OverlayTemplates, virtual_size, with_backing
from cowshed.formats.qemu_output import (
    ImageInfo,
    SnapshotInfo,
    json_int,
    json_opt_int,
    parse_info,
    parse_json,
)
from cowshed.formats.types import qemu_driver

#: qemu block drivers cowshed lets qemu-img open.
QEMU_DRIVERS = frozenset({"raw", "qcow2", "vmdk", "vpc", "vhdx", "vdi"})
_COMPRESSIBLE = frozenset({"qcow2", "vmdk"})
_STDERR_TAIL = 2000

GiB = 1 << 30

__all__ = [
    "CheckResult", "ImageInfo", "MeasureResult", "QemuImg", "QemuImgCall", "QemuImgLimits",
    "ResourceLimits", "SnapshotInfo", "default_qemu_img",
]


@dataclass(frozen=True)
class ResourceLimits:
    """Limits for one qemu-img process; ``None`` means unlimited."""

    cpu_seconds: int | None
    address_space: int | None
    timeout: float | None


@dataclass(frozen=True)
class QemuImgLimits:
    """Limits per class of operation.

    ``light`` covers operations that parse metadata only (info, check, measure, create, resize,
    snapshots): Nova's 30 s CPU / 2 GiB address space. ``bulk`` covers operations that move
    data (convert, commit, rebase, compare): their CPU time grows with the image, so it is not
    capped by default; the address space is larger because ``convert -W`` reserves thread
    stacks (it aborts at 512 MiB on qemu 7.2; 8 GiB leaves room for larger images).
    """

    light: ResourceLimits = ResourceLimits(cpu_seconds=30, address_space=2 * GiB, timeout=120.0)
    bulk: ResourceLimits = ResourceLimits(cpu_seconds=None, address_space=8 * GiB, timeout=None)


@dataclass(frozen=True)
class QemuImgCall:
    """What the audit callback sees: the qemu-img argv (without the prlimit prefix)."""

    operation: str
    argv: tuple[str, ...]
    limits: ResourceLimits


@dataclass(frozen=True)
class CheckResult:
    """``qemu-img check``. ``supported`` is False for formats without checks (raw)."""

    supported: bool
    check_errors: int = 0
    corruptions: int = 0
    leaks: int = 0
    image_end_offset: int | None = None

    @property
    def clean(self) -> bool:
        return self.check_errors == 0 and self.corruptions == 0 and self.leaks == 0


@dataclass(frozen=True)
class MeasureResult:
    """``qemu-img measure``: bytes needed for the converted image, now and fully allocated."""

    required: int
    fully_allocated: int


@dataclass(frozen=True)
class _Run:
    returncode: int
    stdout: str
    stderr: str


class QemuImg:
    """Runs qemu-img under limits. Every method raises ExternalToolError if qemu-img fails,
    times out or prints something unparsable; InvalidRequest for a relative path, a bad size or
    an unknown format; UnsupportedOperation for an operation the format lacks.
    """

    def __init__(
        self,
        limits: QemuImgLimits | None = None,
        *,
        audit: Callable[[QemuImgCall], None] | None = None,
        binary: str = "qemu-img",
    ) -> None:
        self.limits = limits or QemuImgLimits()
        self._audit = audit
        self._binary = binary
        self._overlays = OverlayTemplates(self._overlay_template)

    # -- inspection ---------------------------------------------------------------------------

    def info(self, path: str | Path, fmt: str) -> ImageInfo:
        """Describe an image; UnsafeImage if qemu-img reports a format other than ``fmt``."""
        driver = _driver(fmt)
        out = self._run("info", ["info", "-f", driver, "--output=json", _abs(path)])
        info = parse_info(parse_json(out.stdout, "info"))
        if info.format != driver:
            raise UnsafeImage(
                f"qemu-img reports format {info.format!r} for an image opened as {driver!r}"
            )
        return info

    def check(self, path: str | Path, fmt: str) -> CheckResult:
        """Consistency check. Corruptions and leaks are reported, not raised."""
        argv = ["check", "-f", _driver(fmt), "--output=json", _abs(path)]
        out = self._run("check", argv, ok_codes=(0, 2, 3, 63))
        if out.returncode == 63:
            return CheckResult(supported=False)
        data = parse_json(out.stdout, "check")
        return CheckResult(
            supported=True,
            check_errors=json_int(data, "check-errors", 0),
            corruptions=json_int(data, "corruptions", 0),
            leaks=json_int(data, "leaks", 0),
            image_end_offset=json_opt_int(data, "image-end-offset"),
        )

    def measure(self, path: str | Path, fmt: str, target_fmt: str) -> MeasureResult:
        """Space a conversion of ``path`` to ``target_fmt`` needs."""
        argv = ["measure", "--output=json", "-f", _driver(fmt), "-O", _driver(target_fmt),
                _abs(path)]
        data = parse_json(self._run("measure", argv).stdout, "measure")
        return MeasureResult(
            required=json_int(data, "required"), fully_allocated=json_int(data, "fully-allocated")
        )

    def compare(self, a: str | Path, a_fmt: str, b: str | Path, b_fmt: str) -> bool:
        """True if both images have the same guest-visible content (extra zeros allowed)."""
        argv = ["compare", "-f", _driver(a_fmt), "-F", _driver(b_fmt), _abs(a), _abs(b)]
        out = self._run("compare", argv, ok_codes=(0, 1), bulk=True)
        return out.returncode == 0

    # -- data movement ------------------------------------------------------------------------

    def convert(
        self,
        src: str | Path,
        src_fmt: str,
        dst: str | Path,
        dst_fmt: str,
        *,
        compress: bool = False,
        sparse: bool = True,
    ) -> None:
        """Write ``src`` as a new ``dst_fmt`` image at ``dst`` (replacing any file there).

        ``sparse`` leaves zero runs (4 KiB granularity) unallocated; ``compress`` needs a
        qcow2 or vmdk target. Out-of-order writes (``-W``) measured fastest (bench/convert.py);
        O_DIRECT (``-t none``) was slower end to end and fails on tmpfs, more coroutines
        (``-m 16``) did not help. Data is not synced: callers fsync what they keep.
        """
        out_driver = _driver(dst_fmt)
        if compress and out_driver not in _COMPRESSIBLE:
            raise InvalidRequest(f"cannot compress a {out_driver} image")
        argv = ["convert", "-f", _driver(src_fmt), "-O", out_driver, "-W",
                "-S", "4k" if sparse else "0"]
        if compress:
            argv.append("-c")
        argv += [_abs(src), _abs(dst)]
        self._run("convert", argv, bulk=True)

    def commit(self, path: str | Path, fmt: str) -> None:
        """Write an overlay's data into its backing file."""
        self._run("commit", ["commit", "-f", _driver(fmt), _abs(path)], bulk=True)

    def rebase(
        self,
        path: str | Path,
        fmt: str,
        backing: str | Path | None,
        backing_fmt: str | None,
        *,
        unsafe: bool = False,
    ) -> None:
        """Point an overlay at a new backing file (``None``: make it standalone).

        A safe rebase copies the data that differs between the old and new backing files; an
        unsafe one only rewrites the header.
        """
        argv = ["rebase", "-f", _driver(fmt)]
        if backing is None:
            argv += ["-b", ""]
        else:
            if backing_fmt is None:
                raise InvalidRequest("a backing file needs its format")
            argv += ["-b", _abs(backing), "-F", _driver(backing_fmt)]
        if unsafe:
            argv.append("-u")
        argv.append(_abs(path))
        self._run("rebase", argv, bulk=True)

    # -- creation and metadata ----------------------------------------------------------------

    def create(
        self,
        path: str | Path,
        fmt: str,
        size: int | None,
        backing: str | Path | None = None,
        backing_fmt: str | None = None,
    ) -> None:
        """Create an image; with ``backing`` a copy-on-write overlay (size None: the backing's)."""
        argv = ["create", "-q", "-f", _driver(fmt)]
        if backing is not None:
            if backing_fmt is None:
                raise InvalidRequest("a backing file needs its format")
            argv += ["-b", _abs(backing), "-F", _driver(backing_fmt)]
        elif size is None:
            raise InvalidRequest("an image without a backing file needs a size")
        argv.append(_abs(path))
        if size is not None:
            argv.append(str(_size(size)))
        self._run("create", argv)

    def create_overlay(self, path: str | Path, backing: str | Path, backing_fmt: str,
                       size: int | None = None) -> None:
        """The same empty qcow2 overlay as ``create(path, "qcow2", size, backing, backing_fmt)``
        without a qemu-img process per call: a copy of a per-size template made once by
        qemu-img (``qcow2_overlay``). Falls back to ``create`` when the template cannot hold
        the name or the backing's size cannot be read from its header."""
        target, source, driver = _abs(path), _abs(backing), _driver(backing_fmt)
        try:
            virtual = _size(size if size is not None else virtual_size(source, driver))
            data = with_backing(self._overlays.template(virtual, driver), source)
        except (InvalidRequest, OSError):
            self.create(path, "qcow2", size, backing, backing_fmt)
            return
        try:
            with open(target, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StorageFull(f"no space left writing {target}") from None
            raise

    def _overlay_template(self, path: Path, size: int, backing_fmt: str) -> None:
        self._run("create", ["create", "-q", "-f", "qcow2", "-u", "-b", PLACEHOLDER,
                             "-F", backing_fmt, _abs(path), str(size)])

    def create_encrypted(
        self,
        path: str | Path,
        size: int,
        secret: bytes,
        *,
        backing: str | Path | None = None,
        backing_fmt: str | None = None,
        iter_time_ms: int = 2000,
    ) -> None:
        """Create a LUKS-encrypted qcow2 (``encrypt.format=luks``), optionally an overlay."""
        opts = f"encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time={int(iter_time_ms)}"
        argv = ["create", "-q", "--object", _SECRET_OBJECT, "-f", "qcow2", "-o", opts]
        if backing is not None:
            if backing_fmt is None:
                raise InvalidRequest("a backing file needs its format")
            argv += ["-b", _abs(backing), "-F", _driver(backing_fmt)]
        argv += [_abs(path), str(_size(size))]
        self._run("create", argv, secret=secret)

    def convert_encrypted(
        self, src: str | Path, secret: bytes, dst: str | Path, dst_fmt: str, *,
        compress: bool = False,
    ) -> None:
        """Write a LUKS-encrypted qcow2 (and its backing chain) out as a plain image."""
        out_driver = _driver(dst_fmt)
        if compress and out_driver not in _COMPRESSIBLE:
            raise InvalidRequest(f"cannot compress a {out_driver} image")
        spec = "driver=qcow2,encrypt.key-secret=sec0,file.driver=file,file.filename=" + (
            _abs(src).replace(",", ",,"))
        argv = ["convert", "--object", _SECRET_OBJECT, "--image-opts", "-O", out_driver, "-W",
                "-S", "4k", *(["-c"] if compress else []), spec, _abs(dst)]
        self._run("convert", argv, bulk=True, secret=secret)

    def resize(self, path: str | Path, fmt: str, size: int, *, shrink: bool = False) -> None:
        """Set the virtual size; shrinking must be asked for explicitly."""
        argv = ["resize", "-q", "-f", _driver(fmt)]
        if shrink:
            argv.append("--shrink")
        argv += [_abs(path), str(_size(size))]
        self._run("resize", argv)

    def snapshot_create(self, path: str | Path, fmt: str, name: str) -> None:
        """Create an internal snapshot (qcow2 only)."""
        self._snapshot("-c", path, fmt, name)

    def snapshot_apply(self, path: str | Path, fmt: str, name: str) -> None:
        """Revert the image to an internal snapshot (qcow2 only)."""
        self._snapshot("-a", path, fmt, name)

    def snapshot_delete(self, path: str | Path, fmt: str, name: str) -> None:
        """Delete an internal snapshot (qcow2 only)."""
        self._snapshot("-d", path, fmt, name)

    def snapshot_list(self, path: str | Path, fmt: str) -> tuple[SnapshotInfo, ...]:
        """Internal snapshots of an image (qcow2 only), from ``info``."""
        _require_qcow2(fmt)
        return self.info(path, fmt).snapshots

    def _snapshot(self, flag: str, path: str | Path, fmt: str, name: str) -> None:
        _require_qcow2(fmt)
        if not name or "\x00" in name or len(name) > 255:
            raise InvalidRequest("snapshot name must be 1-255 characters without NUL")
        # ``qemu-img snapshot`` has no -f: the format is forced through --image-opts instead.
        spec = "driver=qcow2,file.driver=file,file.filename=" + _abs(path).replace(",", ",,")
        self._run("snapshot", ["snapshot", "-q", "--image-opts", flag, name, spec])

    # -- running ------------------------------------------------------------------------------

    def _run(
        self,
        operation: str,
        args: Sequence[str],
        *,
        ok_codes: tuple[int, ...] = (0,),
        bulk: bool = False,
        secret: bytes | None = None,
    ) -> _Run:
        """``secret``: bytes for ``--object secret,id=sec0,file=/dev/fd/N`` (``{secret_fd}`` in
        ``args``), handed over through a pipe so a key never touches argv, the environment or
        a file."""
        limits = self.limits.bulk if bulk else self.limits.light
        fds: tuple[int, ...] = ()
        if secret is not None:
            fds = _secret_pipe(secret)
            args = [a.replace("{secret_fd}", str(fds[0])) for a in args]
        argv = (self._binary, *args)
        if self._audit is not None:
            self._audit(QemuImgCall(operation=operation, argv=argv, limits=limits))
        cmd = [*_pdeathsig_prefix(), *_prlimit_prefix(limits), _which(self._binary), *args]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, errors="replace", timeout=limits.timeout,
                stdin=subprocess.DEVNULL, env=_ENV, check=False, pass_fds=fds,
            )
        except subprocess.TimeoutExpired:
            raise ExternalToolError(
                f"qemu-img {operation} timed out after {limits.timeout} s"
            ) from None
        finally:
            for fd in fds:
                os.close(fd)
        if proc.returncode not in ok_codes:
            if "No space left on device" in proc.stderr:
                raise StorageFull(f"qemu-img {operation}: no space left on device")
            raise ExternalToolError(_failure(operation, proc.returncode, proc.stderr))
        return _Run(proc.returncode, proc.stdout, proc.stderr)


def default_qemu_img() -> QemuImg:
    """A QemuImg with the default limits and no audit callback."""
    return QemuImg()


_SECRET_OBJECT = "secret,id=sec0,file=/dev/fd/{secret_fd}"


def _secret_pipe(secret: bytes) -> tuple[int, ...]:
    """A pipe already holding ``secret`` (closed for writing); returns its read end."""
    if len(secret) > 4096:
        raise InvalidRequest("secret too long")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, secret)
    finally:
        os.close(write_end)
    return (read_end,)


_ENV = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _which(binary: str) -> str:
    found = shutil.which(binary, path=_ENV["PATH"]) if not os.path.isabs(binary) else binary
    if found is None:
        raise ExternalToolError(f"{binary} not found (install the qemu-utils package)")
    return found


def _pdeathsig_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL``: qemu-img dies with the thread that waits for it.

    Without it a SIGKILLed server leaves its qemu-img running: a conversion goes on for
    minutes, into a file the next start's recovery already removed (disk space held until
    it ends), once per crash. The signal is tied to the forking thread, which blocks in
    ``subprocess.run`` until qemu-img ends, so it never fires early. Skipped where util-linux
    has no ``setpriv`` (older than 2.33).
    """
    setpriv = shutil.which("setpriv", path=_ENV["PATH"])
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _prlimit_prefix(limits: ResourceLimits) -> list[str]:
    flags = []
    if limits.cpu_seconds is not None:
        flags.append(f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds}")
    if limits.address_space is not None:
        flags.append(f"--as={limits.address_space}:{limits.address_space}")
    if not flags:
        return []
    prlimit = shutil.which("prlimit", path=_ENV["PATH"])
    if prlimit is None:
        raise ExternalToolError("prlimit not found (install the util-linux package)")
    return [prlimit, *flags, "--"]


def _failure(operation: str, returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            why = f"killed by {signal.Signals(-returncode).name} (resource limit?)"
        except ValueError:
            why = f"killed by signal {-returncode}"
    else:
        why = f"exit status {returncode}"
    tail = stderr.strip()[-_STDERR_TAIL:]
    return f"qemu-img {operation} failed ({why}): {tail}" if tail else (
        f"qemu-img {operation} failed ({why})"
    )


def _abs(path: str | Path) -> str:
    """An absolute path qemu-img cannot read as a protocol or JSON specification."""
    text = os.fspath(path)
    if "\x00" in text or "\n" in text:
        raise InvalidRequest("image path contains a control character")
    if text.startswith("json:") or not os.path.isabs(text):
        raise InvalidRequest(f"qemu-img needs an absolute path, got {text!r}")
    return text


def _driver(fmt: str) -> str:
    """The qemu driver for a qemu driver name or a cowshed disk format."""
    driver = fmt if fmt in QEMU_DRIVERS else qemu_driver(fmt)
    if driver not in QEMU_DRIVERS:
        raise UnsupportedOperation(f"qemu-img is not run on {fmt} images")
    return driver


def _require_qcow2(fmt: str) -> None:
    if _driver(fmt) != "qcow2":
        raise UnsupportedOperation("internal snapshots need a qcow2 image")


def _size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidRequest(f"invalid image size {size!r}")
    return size
