"""Empty qcow2 overlays without a qemu-img process per overlay.

An empty overlay is a fixed set of bytes that depends only on its virtual size, the backing
file's format and the backing file's name: qemu-img writes the header (with the backing-format
extension), an empty refcount table and block, and an all-zero L1 table. :class:`OverlayTemplates`
asks qemu-img for that file once per (virtual size, backing format), with a placeholder name,
and later writes a copy with the real backing name put where qemu-img put the placeholder (the
name field at ``backing_file_offset``, whose length is in the header). The result is byte for
byte what ``qemu-img create -f qcow2 -b BACKING -F FMT PATH SIZE`` writes (tested), at the cost
of one file write instead of a process start (~10-80 ms, more on a loaded host).

Only the header fields qemu documents (docs/interop/qcow2.txt) are read or written; a template
whose layout is not the expected one is refused, and callers fall back to qemu-img.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from cowshed.errors import InvalidRequest

MAGIC = b"QFI\xfb"
#: qemu refuses backing names longer than this (``BDRV_PATH_MAX``-ish limit in qcow2.c: 1023).
MAX_BACKING_NAME = 1023
#: a placeholder the template is made with; never a real path (relative names are refused).
PLACEHOLDER = "/cowshed-overlay-template-placeholder"
#: templates kept per process (each is a few hundred KiB at most for sizes up to many TiB).
KEEP = 32

#: ``create(path, size, backing_fmt)``: qemu-img create of an overlay on ``PLACEHOLDER``.
MakeTemplate = Callable[[Path, int, str], None]


def virtual_size(path: str | Path, fmt: str) -> int:
    """The guest-visible size of a ``qcow2`` (header field) or ``raw`` (file size) image."""
    if fmt == "raw":
        return os.path.getsize(path)
    if fmt != "qcow2":
        raise InvalidRequest(f"no header reader for format {fmt!r}")
    with open(path, "rb") as fh:
        header = fh.read(32)
    if len(header) < 32 or header[:4] != MAGIC:
        raise InvalidRequest(f"{path} is not a qcow2 image")
    return int(struct.unpack(">Q", header[24:32])[0])


def with_backing(template: bytes, backing: str) -> bytes:
    """``template`` (an overlay on ``PLACEHOLDER``) naming ``backing`` instead."""
    name = backing.encode()
    offset, length = struct.unpack(">QI", template[8:20])
    cluster = 1 << int(struct.unpack(">I", template[20:24])[0])
    if template[:4] != MAGIC or template[offset:offset + length] != PLACEHOLDER.encode():
        raise InvalidRequest("the overlay template does not have the expected layout")
    if len(name) > MAX_BACKING_NAME or offset + len(name) > cluster:
        raise InvalidRequest(f"backing file name too long for a qcow2 header: {backing}")
    if any(template[offset + length:cluster]):  # the name must be the last thing in cluster 0
        raise InvalidRequest("the overlay template has data after the backing file name")
    out = bytearray(template)
    out[offset:cluster] = bytes(cluster - offset)
    out[offset:offset + len(name)] = name
    out[16:20] = struct.pack(">I", len(name))
    return bytes(out)


class OverlayTemplates:
    """Per-process cache of empty-overlay templates; thread-safe."""

    def __init__(self, make: MakeTemplate) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()

    def template(self, size: int, backing_fmt: str) -> bytes:
        key = (size, backing_fmt)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        with tempfile.TemporaryDirectory(prefix="cowshed-overlay-") as tmp:
            path = Path(tmp) / "template.qcow2"
            self._make(path, size, backing_fmt)
            data = path.read_bytes()
        with_backing(data, "/x")  # refuse an unexpected layout before caching it
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > KEEP:
                self._cache.popitem(last=False)
        return data

