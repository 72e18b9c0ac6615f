"""Small images that stand for large ones: every one is safe to open but converts into far more
bytes than it carries. Virtual sizes are :data:`VIRTUAL` (64 MiB) so tests stay fast; the
red-team versions were 1 GiB from 458 KiB and 8 to 64 TiB of emptiness.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
VIRTUAL = 64 * MiB
CLUSTER = 64 << 10


@dataclass(frozen=True)
class AmplifyingCase:
    name: str
    path: Path
    declared: str


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True, timeout=120)


def one_cluster_qcow2(path: Path, virtual: int = VIRTUAL) -> Path:
    """A consistent qcow2 v2 (``qemu-img check`` is clean) whose every L2 entry points at the
    same 64 KiB cluster of 0xAA, referenced that many times: 384 KiB that read as ``virtual``
    bytes of data, none of them zero, so no sparse output can absorb them."""
    entries = virtual // CLUSTER
    assert entries <= CLUSTER // 8, "one L2 table only"
    copied = 1 << 63
    header = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", 2, 0, 0, 16, virtual, 0, 1,
                         1 * CLUSTER, 2 * CLUSTER, 1, 0, 0)
    l1 = struct.pack(">Q", 3 * CLUSTER | copied)
    refcount_table = struct.pack(">Q", 4 * CLUSTER)
    l2 = struct.pack(f">{entries}Q", *([5 * CLUSTER] * entries))
    refcounts = struct.pack(">6H", 1, 1, 1, 1, 1, entries)
    clusters = [header, l1, refcount_table, l2, refcounts, b"\xaa" * CLUSTER]
    path.write_bytes(b"".join(c.ljust(CLUSTER, b"\0") for c in clusters))
    return path


def amplifying_cases(directory: Path) -> list[AmplifyingCase]:
    directory.mkdir(parents=True, exist_ok=True)
    pattern = directory / "pattern.raw"
    pattern.write_bytes(b"A" * VIRTUAL)  # compresses to almost nothing, converts to all of it
    cases = [AmplifyingCase("qcow2_l2_one_cluster",
                            one_cluster_qcow2(directory / "one-cluster.qcow2"), "qcow2")]

    def convert(name: str, fmt: str, *opts: str) -> None:
        out = directory / f"{name}.{fmt}"
        _qemu_img("convert", "-f", "raw", "-O", fmt, *opts, str(pattern), str(out))
        cases.append(AmplifyingCase(name, out, fmt))

    def empty(name: str, fmt: str, driver: str) -> None:
        out = directory / f"{name}.{fmt}"
        _qemu_img("create", "-f", driver, str(out), str(VIRTUAL))
        cases.append(AmplifyingCase(name, out, fmt))

    convert("qcow2_zlib", "qcow2", "-c")
    convert("qcow2_zstd", "qcow2", "-c", "-o", "compression_type=zstd")
    convert("vmdk_stream_optimized", "vmdk", "-o", "subformat=streamOptimized")
    empty("qcow2_empty", "qcow2", "qcow2")
    empty("vdi_empty", "vdi", "vdi")
    empty("vhd_empty", "vhd", "vpc")
    empty("vhdx_empty", "vhdx", "vhdx")
    pattern.unlink()
    return cases
