"""Short and disguised headers: data that starts like an image format but is too short (or too
odd) for oslo's inspectors, while qemu's format probe still recognises it.

Each case is declared ``raw`` (the disguise) unless it says otherwise. ``qemu_probes`` names the
qemu driver ``qemu-img info`` without ``-f`` opens the bytes with, where it does so successfully:
the control test proves those cases are real hazards, not made-up ones.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShortCase:
    name: str
    data: bytes
    declared: str = "raw"
    qemu_probes: str | None = None


def qcow2_header(total: int, version: int = 2, backing: bytes = b"/etc/passwd") -> bytes:
    """A qcow2 header with a backing file name right after it, padded to ``total`` bytes.

    L1 and refcount tables point past the end of the file: qemu reads zeros there and opens
    the image (64 MiB virtual) with its backing file.
    """
    header_len = 72 if version == 2 else 104
    head = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", version, header_len, len(backing), 16,
                       64 << 20, 0, 1, 0x10000, 0x20000, 1, 0, 0)
    if version == 3:
        head += struct.pack(">QQQII", 0, 0, 0, 4, header_len)
    return (head + backing).ljust(total, b"\0")


def _vdi(total: int) -> bytes:
    head = b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(0x40, b"\0")
    return (head + struct.pack("<II", 0xBEDA107F, 0x00010001)).ljust(total, b"\0")


def short_cases() -> list[ShortCase]:
    flat = b'version=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/passwd" 0\n'
    return [
        ShortCase("qcow2_v2_104", qcow2_header(104), qemu_probes="qcow2"),
        ShortCase("qcow2_v2_400", qcow2_header(400), qemu_probes="qcow2"),
        ShortCase("qcow2_v3_200", qcow2_header(200, version=3), qemu_probes="qcow2"),
        ShortCase("qcow2_v2_104_declared_iso", qcow2_header(104), declared="iso"),
        ShortCase("qcow2_v2_104_declared_ami", qcow2_header(104), declared="ami"),
        ShortCase("qcow_v1_64", qcow2_header(64, version=2)[:4] + struct.pack(">I", 1)
                  + bytes(56)),
        ShortCase("qcow2_magic_only", b"QFI\xfb"),
        ShortCase("qed_64", b"QED\x00" + struct.pack("<IIIIQQQ", 65536, 16, 1, 0, 0, 0, 0)
                  .ljust(60, b"\0")),
        ShortCase("vmdk_sparse_64", b"KDMV" + struct.pack("<IIQQQQ", 1, 3, 2048, 128, 1, 20)
                  .ljust(60, b"\0")),
        ShortCase("vmdk3_cowd_512", b"COWD" + struct.pack("<II", 1, 3).ljust(508, b"\0")),
        ShortCase("vmdk_text_version_line", b"# comment\n  \n" + flat),
        ShortCase("vmdk_text_crlf", flat.replace(b"\n", b"\r\n")),
        ShortCase("vhd_footer_200", b"conectix" + bytes(192)),
        ShortCase("vhdx_ident_100", b"vhdxfile" + "cowshed".encode("utf-16-le").ljust(92, b"\0")),
        ShortCase("vdi_300", _vdi(300)),
        ShortCase("luks_300", b"LUKS\xba\xbe\x00\x01" + b"aes".ljust(32, b"\0") + bytes(260)),
        ShortCase("parallels_64", b"WithoutFreeSpace" + bytes(48)),
        ShortCase("parallels_ext_1m", b"WithouFreSpacExt" + bytes((1 << 20) - 16)),
        ShortCase("bochs_4k", b"Bochs Virtual HD Image".ljust(4096, b"\0")),
        ShortCase("cloop_300", b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t "
                  b"iso9660 /dev/cloop $1\n".ljust(300, b"\0")),
    ]


def benign_short_cases() -> list[ShortCase]:
    """Small raw data that merely looks odd: it must still be accepted."""
    return [
        ShortCase("raw_text_100", b"hello, this is a tiny raw disk\n".ljust(100, b".")),
        ShortCase("raw_zeros_300", bytes(300)),
        ShortCase("raw_shell_script", b"#!/bin/sh\necho not a cloop image\n"),
        ShortCase("raw_comment_then_text", b"# notes\nversion=10 is not a vmdk line\n"),
        ShortCase("raw_three_bytes", b"QFI"),
    ]


def write_cases(directory: Path, cases: list[ShortCase]) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in cases:
        path = directory / f"{case.name}.img"
        path.write_bytes(case.data)
        paths[case.name] = path
    return paths
