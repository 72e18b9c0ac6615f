"""Streaming format detection and named safety checks for untrusted image bytes.

This is the first half of cowshed's one door for untrusted images (the second is
:mod:`cowshed.formats.qemu_img`, which must only ever see bytes that passed through here). The
parsing is oslo.utils' ``format_inspector``; this module drives its per-format inspectors itself
(instead of ``InspectWrapper``) for two reasons:

* **Cost.** ``InspectWrapper`` hands every chunk to every inspector until the end of the stream.
  Here an inspector is fed only while it still has a region to capture; once all have what they
  need, :meth:`StreamInspector.feed` only counts bytes (and keeps the few tail bytes a
  streamOptimized VMDK footer check needs).
* **Determinism.** Inspectors are fed in fixed pieces aligned to absolute stream offsets
  (:data:`PIECE`, :data:`BIG_PIECE`), whatever block sizes the caller uses, so a result never
  depends on how the network cut the stream. It also matters for correctness: oslo's VHDX
  inspector looks for its metadata region only in the chunk *after* the one that completed the
  region table, so fed whole 8 MiB blocks it silently loses the virtual size.

Policy (Glance's, tightened):

* Accepted detected formats: raw, qcow2, vmdk (monolithicSparse / streamOptimized, with a binary
  sparse header: a text-only descriptor names other files and is refused), vhd, vhdx, vdi, iso,
  gpt/mbr (counted as raw), luks. qed is banned.
* Data matching several formats is refused ("Multiple formats detected"), except iso+gpt
  (a hybrid bootable ISO), which is an ISO.
* Detected ≠ declared is refused with :class:`FormatMismatch`, except: declared raw with a
  partition table (gpt/mbr); declared ami/ari/aki/ploop (no inspector) with raw data.
* **Declared raw but detected qcow2, vmdk, vhd, luks, iso… is refused.** Glance only warns
  here. A disguised image is harmless while every tool gets ``-f raw``, but the first tool that
  probes the format (an older hypervisor, an operator's ``qemu-img info``) follows its backing or
  data file: that is the CVE-2024-32498 class, so such bytes are never stored.
* A virtual size above ``InspectorConfig.max_virtual_size`` (default 64 TiB) is refused: a
  qcow2 header claiming 2^62 bytes is a resource attack on every later tool, not a disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cowshed.errors import FormatMismatch, InvalidRequest, UnsafeImage
from cowshed.formats._probe import _Probe, _State
from cowshed.formats.signatures import HEAD_SIZE, probed_signature
from cowshed.formats.types import (
    DECLARABLE_DISK_FORMATS,
    OPAQUE_DISK_FORMATS,
    DiskFormat,
    parse_disk_format,
)

#: Inspectors get the stream in pieces of this size, aligned to absolute offsets…
PIECE = 64 * 1024
#: …and, past the first :data:`_FINE_ZONE` bytes (where every known format keeps its headers),
#: in pieces of this size, so an inspector waiting for a far-away region stays cheap.
BIG_PIECE = 1024 * 1024
_FINE_ZONE = 16 * 1024 * 1024
#: Read size of :func:`inspect_file` while inspectors still want data.
_FILE_BLOCK = 1024 * 1024
#: Safety checks each oslo inspector runs (names reported in InspectionResult.safety_checks).
_ORACLE_CHECKS: dict[str, tuple[str, ...]] = {
    "qcow2": ("backing_file", "data_file", "unknown_features"),
    "vmdk": ("descriptor",),
    "gpt": ("mbr",),
    "luks": ("version", "passphrase", "inner_safety"),
}


@dataclass(frozen=True)
class InspectorConfig:
    """Knobs of the inspection policy.

    ``gpt_safety_checks_nonfatal``: names of GPT/MBR checks (e.g. ``"mbr"``) whose failure is
    tolerated, like Glance's ``[image_format] gpt_safety_checks_nonfatal``.
    ``max_virtual_size``: largest virtual size accepted, in bytes.
    """

    gpt_safety_checks_nonfatal: frozenset[str] = frozenset()
    max_virtual_size: int = 64 << 40


DEFAULT_CONFIG = InspectorConfig()


@dataclass(frozen=True)
class InspectionResult:
    """What inspection found in bytes it accepted.

    ``detected_format`` is the format the bytes will be treated as (a partition table counts as
    ``raw``). ``virtual_size`` is set when the detected format equals the declared one (for raw:
    the byte count) and the format records it. ``safety_checks`` names every check that ran and
    passed, e.g. ``("single_format", "qcow2.backing_file", …, "format_match")``.
    """

    detected_format: str
    virtual_size: int | None
    safety_checks: tuple[str, ...]


class StreamInspector:
    """Detects the format of a byte stream and checks that it is safe, as it streams by.

    Feed the stream in order with :meth:`feed`, then call :meth:`finish` (later calls return
    the same result or raise the same error).
    ``declared_format`` is the client's ``disk_format`` (``None``: accept whatever safe format is
    found). Raises InvalidRequest at construction for an unknown or undeclarable format.
    """

    def __init__(
        self, declared_format: str | None, *, config: InspectorConfig = DEFAULT_CONFIG
    ) -> None:
        # imported here, not with the module: importing oslo_utils.imageutils costs ~0.1 s,
        # paid only by processes that inspect
        from oslo_utils.imageutils import format_inspector as _fi

        self._declared = _declarable(declared_format)
        self._config = config
        self._probes = [
            _Probe(name, cls()) for name, cls in _fi.ALL_FORMATS.items() if name != "raw"
        ]
        # Probes still fed (NEEDS_DATA or NEEDS_TAIL), while any of them NEEDS_DATA; after that,
        # the NEEDS_TAIL ones wait for the tail at finish().
        self._active = list(self._probes)
        self._hungry = True
        self._tail_wanted = 0
        self._pending = bytearray()
        self._fed = 0  # bytes handed to inspectors
        self._tail = b""
        self._head = bytearray()  # the first HEAD_SIZE bytes, for the signature check
        self._total = 0
        self._result: InspectionResult | None = None
        self._error: UnsafeImage | None = None

    @property
    def bytes_seen(self) -> int:
        """Number of bytes fed so far."""
        return self._total

    @property
    def needs_data(self) -> bool:
        """True while some inspector still wants bytes beyond those counted and the tail."""
        return self._hungry

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next block of the stream. Never raises for bad content (finish() does).

        Cheap once the inspectors are settled: counting plus, for a VMDK footer, a tail copy.
        """
        if self._result is not None or self._error is not None:
            raise RuntimeError("StreamInspector.feed() after finish()")
        view = memoryview(data).cast("B")
        if len(self._head) < HEAD_SIZE:
            self._head += view[: HEAD_SIZE - len(self._head)]
        used = self._feed_probes(view) if self._hungry else 0
        self._total += len(view)
        if self._tail_wanted and used < len(view):
            self._keep_tail(view[used:])

    def finish(self) -> InspectionResult:
        """Decide. Returns the result, or raises UnsafeImage / FormatMismatch naming the check."""
        if self._result is not None:
            return self._result
        if self._error is None:
            self._flush()
            try:
                self._result = _Verdict(self).decide()
            except UnsafeImage as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def check_so_far(self) -> None:
        """Raise now what finish() would raise, if the bytes seen already decide it.

        Meaningful once ``needs_data`` is False: no inspector takes more bytes from then on, so
        the single-format, safety, qed, virtual-size and format-match checks are final. Checks
        that need the end of the stream (a VMDK footer, truncation) wait for finish(), and
        passing here does not mean finish() passes. Lets a caller stop writing a large refused
        upload after its first blocks. The error raised is also what finish() raises.
        """
        if self._hungry or self._result is not None:
            return
        if self._error is None:
            try:
                _Verdict(self).decide_early()
            except UnsafeImage as exc:
                self._error = exc
        if self._error is not None:
            raise self._error

    def _feed_probes(self, view: memoryview) -> int:
        """Feed aligned pieces while some probe is hungry; return how many bytes went in.

        Whole pieces inside ``view`` are handed over as zero-copy slices (inspectors copy the
        few bytes they keep); only pieces split across feed() calls are assembled.
        """
        used = 0
        while used < len(view) and self._hungry:
            size = _piece_size(self._fed)
            if not self._pending and len(view) - used >= size:
                self._eat(view[used : used + size])
                used += size
                continue
            take = min(size - len(self._pending), len(view) - used)
            self._pending += view[used : used + take]
            used += take
            if len(self._pending) == size:
                self._eat(bytes(self._pending))
                self._pending.clear()
        return used

    def _eat(self, piece: bytes | memoryview) -> None:
        self._fed += len(piece)
        for probe in self._active:
            probe.eat(piece)
        states = [(p, p.state()) for p in self._active]
        self._active = [p for p, st in states if st in (_State.NEEDS_DATA, _State.NEEDS_TAIL)]
        self._hungry = any(st is _State.NEEDS_DATA for _, st in states)
        if not self._hungry:
            self._tail_wanted = max((p.tail_length() for p in self._active), default=0)

    def _keep_tail(self, view: memoryview) -> None:
        keep = self._tail_wanted
        if len(view) >= keep:
            self._tail = bytes(view[len(view) - keep :])
        else:
            self._tail = (self._tail + bytes(view))[-keep:]

    def _advance(self, count: int, tail: bytes) -> None:
        """Count ``count`` bytes no inspector needs, ending with ``tail`` (file fast path)."""
        assert not self._hungry and not self._pending
        self._total += count
        if self._tail_wanted:
            self._tail = (self._tail + tail)[-self._tail_wanted :]

    def _flush(self) -> None:
        """Give inspectors the last partial piece and the tail, then mark them finished."""
        if self._pending:
            self._eat(bytes(self._pending))
            self._pending.clear()
        for probe in self._probes:
            if probe.state() is _State.NEEDS_TAIL and self._tail:
                # Only end-of-stream regions are open: the offsets of the skipped bytes do not
                # matter to them, only that they see the last bytes of the stream.
                probe.eat(self._tail)
            probe.inspector.finish()


class _Verdict:
    """The decision of a finished StreamInspector; one method per policy step."""

    def __init__(self, owner: StreamInspector) -> None:
        self.declared = owner._declared
        self.config = owner._config
        self.total = owner._total
        self.head = bytes(owner._head)
        self.probes = {p.name: p for p in owner._probes}
        self.passed: list[str] = []

    def decide(self) -> InspectionResult:
        if self.total == 0:
            # Nothing to open, so nothing to refuse: no byte can carry a backing file or a
            # signature. Nova activates the image of a volume-backed instance snapshot (declared
            # qcow2/bare, size 0) with exactly this empty upload, and Glance accepts it.
            self.passed.append("empty")
            return InspectionResult(detected_format=str(self.declared or DiskFormat.RAW),
                                    virtual_size=0, safety_checks=tuple(self.passed))
        probe = self._single_match()
        detected = DiskFormat(probe.name) if probe else DiskFormat.RAW
        if probe is None:
            # Nothing recognisable: if the declared format's parser choked, say why.
            self._check_declared_parses()
        else:
            self._run_safety_checks(probe, detected)
        effective = self._check_agreement(detected, probe)
        self._check_signature(detected)
        return InspectionResult(
            detected_format=str(effective),
            virtual_size=self._virtual_size(effective, probe),
            safety_checks=tuple(self.passed),
        )

    def decide_early(self) -> None:
        """The part of decide() no later byte can change (see StreamInspector.check_so_far):
        probes waiting only for the stream's tail are safety-checked at finish()."""
        probe = self._single_match()
        detected = DiskFormat(probe.name) if probe else DiskFormat.RAW
        if probe is None:
            self._check_declared_parses()
        elif probe.state() is _State.SETTLED:
            self._run_safety_checks(probe, detected)
        self._check_agreement(detected, probe)
        self._check_signature(detected)

    def _check_signature(self, detected: DiskFormat) -> None:
        """Data that starts with format F's signature must be a complete F image: a tool that
        probes the format (``qemu-img info`` without ``-f``) opens it as F, whatever its length
        and whatever oslo made of it (a 104-byte qcow2 header is raw to oslo, qcow2 to qemu)."""
        sig = probed_signature(self.head)
        if sig is None or sig.disk_format == str(detected):
            if sig is not None:
                self.passed.append("signature")
            return
        own = self.probes.get(sig.disk_format or "")
        if own is not None and own.error is not None and own.magic_matched():
            raise FormatMismatch(
                f"image refused (check {own.name}.structure): data that starts with a "
                f"{own.name} signature has an invalid {own.name} structure: {own.error}"
            )
        what = "complete" if sig.disk_format else "accepted"
        raise FormatMismatch(
            f"image refused (check signature): the data starts with a {sig.driver} signature "
            f"but is no {what} {sig.driver} image (truncated or disguised: it reads as "
            f"{detected}, {self.total} bytes); tools that probe the format would open it as "
            f"{sig.driver}"
        )

    def _check_declared_parses(self) -> None:
        probe = self.probes.get(str(self.declared)) if self.declared else None
        if probe is not None and probe.error is not None and probe.magic_matched():
            raise FormatMismatch(
                f"image refused (check {probe.name}.structure): data declared {probe.name} "
                f"has an invalid {probe.name} structure: {probe.error}"
            )

    def _single_match(self) -> _Probe | None:
        matches = {name: p for name, p in self.probes.items() if p.matches()}
        if "iso" in matches and "gpt" in matches:
            del matches["gpt"]  # a hybrid bootable ISO carries a partition table: it is an ISO
        if len(matches) > 1:
            raise UnsafeImage(
                "image refused (check single_format): Multiple formats detected: "
                + ", ".join(sorted(matches))
            )
        self.passed.append("single_format")
        return next(iter(matches.values()), None)

    def _run_safety_checks(self, probe: _Probe, detected: DiskFormat) -> None:
        if detected is DiskFormat.QED:
            raise UnsafeImage("image refused (check qed.banned): qed images are not accepted")
        failures = _oslo_safety_failures(probe)
        tolerated = self.config.gpt_safety_checks_nonfatal if detected is DiskFormat.GPT else ()
        fatal = {k: v for k, v in failures.items() if k not in tolerated}
        if fatal:
            named = "; ".join(f"{detected}.{k}: {v}" for k, v in sorted(fatal.items()))
            raise UnsafeImage(f"image refused (safety check failed) {named}")
        self.passed.extend(f"{detected}.{c}" for c in _check_names(probe) if c not in failures)
        if detected is DiskFormat.VMDK:
            _require_sparse_vmdk(probe)
            self.passed.append("vmdk.sparse_header")
        size = probe.virtual_size()
        if size > self.config.max_virtual_size:
            raise UnsafeImage(
                f"image refused (check max_virtual_size): virtual size {size} exceeds the "
                f"limit of {self.config.max_virtual_size} bytes"
            )
        self.passed.append("max_virtual_size")

    def _check_agreement(self, detected: DiskFormat, probe: _Probe | None) -> DiskFormat:
        """Return the effective format, or raise FormatMismatch."""
        effective = DiskFormat.RAW if detected is DiskFormat.GPT else detected
        declared = self.declared
        opaque_ok = detected is DiskFormat.RAW and declared in OPAQUE_DISK_FORMATS
        if not (declared is None or declared is effective or opaque_ok):
            assert declared is not None
            raise FormatMismatch(_mismatch_message(declared, detected, probe, self.probes))
        if declared is not None:
            self.passed.append("format_match")
        if probe is not None and detected is DiskFormat.GPT:
            self.passed.append(f"partition_table.{_partition_kind(probe)}")
        return effective

    def _virtual_size(self, effective: DiskFormat, probe: _Probe | None) -> int | None:
        if self.declared is not None and self.declared is not effective:
            return None
        if effective is DiskFormat.RAW:
            return self.total
        if effective is DiskFormat.LUKS and probe is not None:
            payload = int(probe.inspector.header_items["payload_offset"]) * 512
            return max(self.total - payload, 0)
        size = probe.virtual_size() if probe is not None else 0
        return size or None


def _piece_size(offset: int) -> int:
    return PIECE if offset < _FINE_ZONE else BIG_PIECE


def _declarable(declared: str | None) -> DiskFormat | None:
    if declared is None:
        return None
    fmt = parse_disk_format(declared)
    if fmt not in DECLARABLE_DISK_FORMATS and fmt is not DiskFormat.LUKS:
        raise InvalidRequest(f"disk format {fmt} cannot be declared")
    return fmt


def _oslo_safety_failures(probe: _Probe) -> dict[str, str]:
    """Run the oslo inspector's safety_check(); return {check name: reason} of failures."""
    from oslo_utils.imageutils import format_inspector as _fi

    try:
        probe.inspector.safety_check()
    except _fi.SafetyCheckFailed as exc:
        return {name: str(err) for name, err in exc.failures.items()}
    except _fi.ImageFormatError as exc:
        # safety_check() refuses an inspector that did not see all it needed: the stream ended
        # inside a structure the format promised.
        return {"complete": f"image is truncated or incomplete ({exc})"}
    return {}


def _check_names(probe: _Probe) -> tuple[str, ...]:
    names = _ORACLE_CHECKS.get(probe.name, ())
    if probe.name == "vmdk" and probe.inspector.has_region("footer"):
        names = (*names, "footer")
    return names


def _require_sparse_vmdk(probe: _Probe) -> None:
    """Refuse a text-only VMDK descriptor: its extents are other files, named relative to it."""
    if not probe.inspector.has_region("header"):
        raise UnsafeImage(
            "image refused (check vmdk.sparse_header): a text-only VMDK descriptor refers to "
            "extent files; only single-file monolithicSparse/streamOptimized VMDKs are accepted"
        )


def _partition_kind(probe: _Probe) -> str:
    """``gpt`` if the MBR holds a protective 0xEE partition, else ``mbr``."""
    mbr = bytes(probe.inspector.region("mbr").data)
    types = [mbr[446 + 16 * i + 4] for i in range(4)] if len(mbr) >= 512 else []
    return "gpt" if 0xEE in types else "mbr"


def _mismatch_message(
    declared: DiskFormat, detected: DiskFormat, probe: _Probe | None, probes: dict[str, _Probe]
) -> str:
    head = f"image refused (check format_match): data declared {declared} is {detected}"
    if declared is DiskFormat.RAW:
        return (
            f"{head}; {detected} data disguised as raw would be parsed by any tool that "
            "probes the format (CVE-2024-32498 class), so it is refused"
        )
    own = probes.get(str(declared))
    if probe is None and own is not None and not own.inspector.complete:
        return f"{head}; the stream ended before a complete {declared} header (truncated?)"
    return head


def inspect_file(
    path: str | Path,
    declared_format: str | None,
    *,
    config: InspectorConfig = DEFAULT_CONFIG,
) -> InspectionResult:
    """Inspect a file (or block device) with the same policy as :class:`StreamInspector`.

    Reads only what the inspectors need: the head until they settle, then the tail if a VMDK
    footer check wants it; the rest is counted from the size. Raises UnsafeImage /
    FormatMismatch like StreamInspector.finish(), InvalidRequest for a bad declared format,
    and OSError if the file cannot be read.
    """
    inspector = StreamInspector(declared_format, config=config)
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        while inspector.needs_data:
            block = fh.read(_FILE_BLOCK)
            if not block:
                break
            inspector.feed(block)
        pos = inspector.bytes_seen
        if pos < size:
            want = inspector._tail_wanted
            start = max(pos, size - want)
            fh.seek(start)
            tail = fh.read(size - start)
            inspector._advance(size - pos, tail)
    return inspector.finish()

