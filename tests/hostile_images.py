"""A generated corpus of hostile and benign disk images, for inspector, conversion and API tests.

``hostile_cases(dir)`` writes images that must be refused before qemu-img ever opens them;
``benign_cases(dir)`` writes real images (made by qemu-img, xorriso or genisoimage) that must be
accepted. Each hostile case carries ``expect``: a fragment the refusal message must contain, so a
test fails if an image is refused for the wrong reason.

Generation runs qemu-img directly (it is test set-up, not cowshed code). Hand-crafted images patch
real qemu-made images where possible so that only the hostile detail differs.
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
VIRTUAL = 16 * MiB
GD_AT_END = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class HostileCase:
    """An image that must be refused. ``expect`` must appear in the refusal message."""

    name: str
    path: Path
    declared_format: str
    why: str
    expect: str


@dataclass(frozen=True)
class BenignCase:
    """An image that must be accepted as ``detected_format`` with ``virtual_size``.

    ``content`` is a raw image with the same guest-visible bytes (None when not comparable);
    ``convertible`` says whether convert_for_store may turn it into raw.
    """

    name: str
    path: Path
    declared_format: str
    detected_format: str
    virtual_size: int | None
    content: Path | None
    convertible: bool


def qemu_img(*args: str) -> None:
    """Run qemu-img for test set-up; raise CalledProcessError with its stderr on failure."""
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True)


def iso_tool() -> list[str] | None:
    """The argv prefix of an installed mkisofs-compatible tool, or None."""
    if shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs", "-quiet"]
    if shutil.which("genisoimage"):
        return ["genisoimage", "-quiet"]
    return None


# -- building blocks ------------------------------------------------------------------------


def content_raw(path: Path, size: int = VIRTUAL, seed: int = 7) -> Path:
    """A raw disk: zero first MiB (so nothing looks like a header), random data at 1 and 9 MiB."""
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset in (1 * MiB, 9 * MiB):
            if offset + MiB <= size:
                fh.seek(offset)
                fh.write(rng.randbytes(MiB))
    return path


def patch(path: Path, offset: int, data: bytes) -> Path:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
    return path


def mbr_sector(partitions: list[tuple[int, int, tuple[int, int, int], int, int]]) -> bytes:
    """An MBR: entries of (boot flag, type, start CHS, start LBA, sectors), then 0x55AA."""
    sector = bytearray(512)
    for i, (boot, ptype, chs, lba, count) in enumerate(partitions):
        struct.pack_into(
            "<B3BB3BII", sector, 446 + 16 * i, boot, *chs, ptype, 0xFE, 0xFF, 0xFF, lba, count
        )
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def iso_descriptor(volume_blocks: int) -> bytes:
    """An ISO 9660 primary volume descriptor (2 KiB) followed by the set terminator."""
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[40:72] = b"COWSHED".ljust(32)
    struct.pack_into("<I", pvd, 80, volume_blocks)
    struct.pack_into(">I", pvd, 84, volume_blocks)
    struct.pack_into("<H", pvd, 128, 2048)
    struct.pack_into(">H", pvd, 130, 2048)
    terminator = bytearray(2048)
    terminator[0:7] = b"\xffCD001\x01"
    return bytes(pvd + terminator)


def luks_header(version: int = 1, payload_sectors: int = 4096) -> bytes:
    """The fixed part of a LUKS header (what inspectors read); key slots left disabled."""
    head = bytearray(592)
    struct.pack_into(">6sH32s32s32sII", head, 0, b"LUKS\xba\xbe", version, b"aes", b"xts-plain64",
                     b"sha256", payload_sectors, 64)
    for slot in range(8):
        struct.pack_into(">I", head, 208 + 48 * slot, 0x0000DEAD)
    return bytes(head)


def vmdk_descriptor(create_type: str, extent: str) -> bytes:
    return (
        "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"
        f'createType="{create_type}"\n\n# Extent description\n{extent}\n\n'
        '# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = "4"\n'
        'ddb.adapterType = "ide"\n'
    ).encode()


def replace_embedded_descriptor(path: Path, text: bytes) -> Path:
    """Overwrite a sparse VMDK's embedded descriptor (at its header's sector, NUL padded)."""
    with open(path, "r+b") as fh:
        head = fh.read(64)
        desc_sector, desc_sectors = struct.unpack_from("<QQ", head, 28)
        room = desc_sectors * 512
        assert len(text) < room, "descriptor too long"
        fh.seek(desc_sector * 512)
        fh.write(text.ljust(room, b"\x00"))
    return path


def vmdk_with_footer(src: Path, dst: Path, *, footer_desc_sectors: int | None = None) -> Path:
    """A streamOptimized VMDK whose header defers to a footer (grain directory at the end).

    VMware writes these; qemu reads them. ``footer_desc_sectors`` makes the footer disagree
    with the header.
    """
    data = bytearray(src.read_bytes())
    header = bytes(data[:512])
    struct.pack_into("<Q", data, 56, GD_AT_END)
    footer = bytearray(header)
    if footer_desc_sectors is not None:
        struct.pack_into("<Q", footer, 36, footer_desc_sectors)
    marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\x00")  # footer marker
    eos = bytes(512)  # end-of-stream marker
    dst.write_bytes(bytes(data) + marker + bytes(footer) + eos)
    return dst


# -- hostile --------------------------------------------------------------------------------


def _qcow2(d: Path, name: str, *opts: str) -> Path:
    path = d / name
    qemu_img("create", "-q", "-f", "qcow2", *opts, str(path), str(VIRTUAL))
    return path


def _hostile_qcow2(d: Path) -> list[HostileCase]:
    backing = d / "h-qcow2-backing.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", "/etc/passwd", "-F", "raw",
             str(backing), str(VIRTUAL))
    data_file = _qcow2(d, "h-qcow2-datafile.qcow2", "-o", f"data_file={d / 'h-data.bin'}")
    json_spec = b'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/shadow"}}'
    json_backing = patch(_qcow2(d, "h-qcow2-json.qcow2"), 1024, json_spec)
    patch(json_backing, 8, struct.pack(">QI", 1024, len(json_spec)))
    unknown = patch(_qcow2(d, "h-qcow2-feature.qcow2"), 72, struct.pack(">Q", 1 << 40))
    version1 = patch(_qcow2(d, "h-qcow2-v1.qcow2"), 4, struct.pack(">I", 1))
    huge = patch(_qcow2(d, "h-qcow2-huge.qcow2"), 24, struct.pack(">Q", 1 << 62))
    truncated = d / "h-qcow2-truncated.qcow2"
    truncated.write_bytes(_qcow2(d, "h-qcow2-full.qcow2").read_bytes()[:100])
    q = "qcow2"
    return [
        HostileCase("qcow2_backing_passwd", backing, q, "backing file /etc/passwd",
                    "qcow2.backing_file"),
        HostileCase("qcow2_data_file", data_file, q, "external data file (CVE-2024-32498)",
                    "qcow2.data_file"),
        HostileCase("qcow2_json_backing", json_backing, q, "json: backing spec naming /etc/shadow",
                    "qcow2.backing_file"),
        HostileCase("qcow2_unknown_feature", unknown, q, "unknown incompatible feature bit 40",
                    "qcow2.unknown_features"),
        HostileCase("qcow2_version1", version1, q, "obsolete qcow v1 header",
                    "qcow2.unknown_features"),
        HostileCase("qcow2_huge_virtual_size", huge, q, "virtual size 2^62 (resource attack)",
                    "max_virtual_size"),
        HostileCase("qcow2_truncated_header", truncated, q, "header cut at 100 bytes",
                    "truncated"),
    ]


def _hostile_vmdk(d: Path) -> list[HostileCase]:
    flat = d / "h-vmdk-flat.vmdk"
    flat.write_bytes(vmdk_descriptor("monolithicFlat", 'RW 2048 FLAT "/etc/passwd" 0'))
    sparse_text = d / "h-vmdk-sparse-text.vmdk"
    sparse_text.write_bytes(vmdk_descriptor("monolithicSparse", 'RW 2048 SPARSE "/etc/passwd"'))
    relative = d / "h-vmdk-relative.vmdk"
    relative.write_bytes(vmdk_descriptor("monolithicSparse", 'RW 2048 SPARSE "other-image"'))
    sparse = d / "h-vmdk-base.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", str(sparse), str(VIRTUAL))
    unknown = replace_embedded_descriptor(
        _copy(sparse, d / "h-vmdk-type.vmdk"),
        vmdk_descriptor("vmfsRawDeviceMap", 'RW 32768 VMFSRDM "disk-rdm.vmdk"'))
    embedded = replace_embedded_descriptor(
        _copy(sparse, d / "h-vmdk-embedded.vmdk"),
        vmdk_descriptor("monolithicSparse", 'RW 32768 SPARSE "/etc/passwd"'))
    bad_offset = patch(_copy(sparse, d / "h-vmdk-descoff.vmdk"), 28, struct.pack("<Q", 2))
    stream = d / "h-vmdk-stream.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
             str(content_raw(d / "h-content.raw")), str(stream))
    footer = vmdk_with_footer(stream, d / "h-vmdk-footer.vmdk", footer_desc_sectors=3)
    v = "vmdk"
    return [
        HostileCase("vmdk_text_flat_passwd", flat, v, "text descriptor, FLAT extent /etc/passwd "
                    "(CVE-2022-47951)", "vmdk.descriptor"),
        HostileCase("vmdk_text_sparse_passwd", sparse_text, v,
                    "text descriptor, SPARSE extent /etc/passwd", "vmdk.descriptor"),
        HostileCase("vmdk_text_relative_extent", relative, v, "text descriptor naming a file "
                    "next to it (passes oslo's checks)", "vmdk.sparse_header"),
        HostileCase("vmdk_unknown_create_type", unknown, v, "createType vmfsRawDeviceMap",
                    "vmdk.descriptor"),
        HostileCase("vmdk_embedded_extent_path", embedded, v,
                    "monolithicSparse whose embedded descriptor names /etc/passwd",
                    "vmdk.descriptor"),
        HostileCase("vmdk_bad_descriptor_offset", bad_offset, v,
                    "descriptor not at sector 1", "vmdk.structure"),
        HostileCase("vmdk_footer_mismatch", footer, v,
                    "streamOptimized footer disagrees with its header", "vmdk.footer"),
    ]


def _hostile_mismatch(d: Path) -> list[HostileCase]:
    qcow2 = _qcow2(d, "h-m.qcow2")
    vmdk = d / "h-m.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", str(vmdk), str(VIRTUAL))
    vhd = d / "h-m.vhd"
    qemu_img("create", "-q", "-f", "vpc", str(vhd), str(VIRTUAL))
    luks = d / "h-m.luks"
    luks.write_bytes(luks_header().ljust(4 * MiB, b"\x00"))
    hybrid = _hybrid_iso(d / "h-m-hybrid.iso")
    raw = content_raw(d / "h-m.raw")
    fm = "format_match"
    return [
        HostileCase("raw_is_qcow2", qcow2, "raw", "qcow2 declared raw (CVE-2024-32498)",
                    "CVE-2024-32498"),
        HostileCase("raw_is_vmdk", vmdk, "raw", "vmdk declared raw", fm),
        HostileCase("raw_is_vhd", vhd, "raw", "vhd declared raw", fm),
        HostileCase("raw_is_luks", luks, "raw", "LUKS container declared raw", fm),
        HostileCase("raw_is_hybrid_iso", hybrid, "raw", "an ISO (with MBR) declared raw", fm),
        HostileCase("qcow2_is_vmdk", vmdk, "qcow2", "vmdk declared qcow2", fm),
        HostileCase("qcow2_is_raw", raw, "qcow2", "raw data declared qcow2", fm),
        HostileCase("iso_is_qcow2", qcow2, "iso", "qcow2 declared iso", fm),
    ]


def _hostile_polyglots(d: Path) -> list[HostileCase]:
    qcow2_iso = patch(_qcow2(d, "h-p-iso.qcow2"), 32768, iso_descriptor(64))
    partition = [(0x80, 0x83, (0, 2, 0), 1, 2048)]
    qcow2_mbr = patch(_qcow2(d, "h-p-mbr.qcow2"), 446, mbr_sector(partition)[446:])
    vdi_magic = struct.pack("<I", 0xBEDA107F)
    vmdk_vdi = d / "h-p-vdi.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", str(vmdk_vdi), str(VIRTUAL))
    patch(vmdk_vdi, 0x40, vdi_magic)
    qcow2_vdi = patch(_qcow2(d, "h-p-vdi.qcow2"), 0x40, vdi_magic)
    multi = "Multiple formats"
    return [
        HostileCase("polyglot_qcow2_iso", qcow2_iso, "qcow2", "ISO descriptor at 32 KiB inside "
                    "a qcow2 header cluster", multi),
        HostileCase("polyglot_qcow2_mbr", qcow2_mbr, "qcow2", "MBR partition table in a qcow2 "
                    "header", multi),
        HostileCase("polyglot_vmdk_vdi", vmdk_vdi, "vmdk", "VDI magic inside a VMDK header "
                    "(vmdk and qcow2 magics share offset 0, so they cannot be combined)", multi),
        HostileCase("polyglot_qcow2_vdi", qcow2_vdi, "qcow2", "VDI magic inside a qcow2 header",
                    multi),
    ]


def _hostile_other(d: Path) -> list[HostileCase]:
    qed = d / "h-o.qed"
    qemu_img("create", "-q", "-f", "qed", str(qed), str(VIRTUAL))
    bad_boot = d / "h-o-bootflag.raw"
    bad_boot.write_bytes(mbr_sector([(0x42, 0x83, (0, 2, 0), 1, 2048)]).ljust(MiB, b"\x00"))
    extra = d / "h-o-gpt-extra.raw"
    gpt_and_more = [(0, 0xEE, (0, 2, 0), 1, 2047), (0x80, 0x83, (0, 2, 0), 2048, 2048)]
    extra.write_bytes(mbr_sector(gpt_and_more).ljust(MiB, b"\x00"))
    vhdx = d / "h-o.vhdx"
    qemu_img("create", "-q", "-f", "vhdx", str(vhdx), str(VIRTUAL))
    truncated = d / "h-o-truncated.vhdx"
    truncated.write_bytes(vhdx.read_bytes()[: 200 * 1024])
    return [
        HostileCase("qed_image", qed, "qcow2", "QED is banned", "qed.banned"),
        HostileCase("mbr_bad_boot_flag", bad_boot, "raw", "MBR boot flag 0x42", "gpt.mbr"),
        HostileCase("gpt_extra_partitions", extra, "raw",
                    "protective MBR plus a second partition", "gpt.mbr"),
        HostileCase("vhdx_truncated", truncated, "vhdx", "VHDX cut before its region table",
                    "vhdx.complete"),
    ]


def hostile_cases(directory: Path) -> list[HostileCase]:
    """Write the hostile corpus into ``directory`` (created if needed) and describe it."""
    directory.mkdir(parents=True, exist_ok=True)
    makers: list[Callable[[Path], list[HostileCase]]] = [
        _hostile_qcow2, _hostile_vmdk, _hostile_mismatch, _hostile_polyglots, _hostile_other,
    ]
    return [case for make in makers for case in make(directory)]


# -- benign ---------------------------------------------------------------------------------


def _hybrid_iso(path: Path) -> Path:
    """An ISO with an MBR (a hybrid bootable ISO), by the ISO tool or by hand."""
    tool = iso_tool()
    if tool is not None and tool[0] == "xorriso":
        src = path.with_suffix(".d")
        src.mkdir(exist_ok=True)
        (src / "hello.txt").write_text("hello\n")
        subprocess.run([*tool, "--protective-msdos-label", "-o", str(path), str(src)],
                       check=True, capture_output=True)
        return path
    blocks = 64
    image = bytearray(blocks * 2048)
    image[0:512] = mbr_sector([(0x80, 0x17, (0, 2, 0), 0, blocks * 4)])
    image[32768 : 32768 + 4096] = iso_descriptor(blocks)
    path.write_bytes(bytes(image))
    return path


def _convert(d: Path, content: Path, name: str, fmt: str, *opts: str) -> Path:
    path = d / name
    qemu_img("convert", "-f", "raw", "-O", fmt, *opts, str(content), str(path))
    return path


def _benign_qemu(d: Path, content: Path) -> list[BenignCase]:
    def case(name: str, path: Path, size: int = VIRTUAL) -> BenignCase:
        fmt = {"vpc": "vhd"}.get(path.suffix[1:], path.suffix[1:])
        return BenignCase(name, path, fmt, fmt, size, content, True)

    stream = _convert(d, content, "b-stream.vmdk", "vmdk", "-o", "subformat=streamOptimized")
    vhd = _convert(d, content, "b.vhd", "vpc")
    vhd_size = VIRTUAL + 4096  # qemu rounds a VHD up to whole CHS geometry
    return [
        BenignCase("raw", content, "raw", "raw", VIRTUAL, content, True),
        case("qcow2", _convert(d, content, "b.qcow2", "qcow2")),
        case("qcow2_compressed", _convert(d, content, "b-c.qcow2", "qcow2", "-c")),
        case("qcow2_v2", _convert(d, content, "b-v2.qcow2", "qcow2", "-o", "compat=0.10")),
        case("vmdk_monolithic_sparse", _convert(d, content, "b.vmdk", "vmdk")),
        case("vmdk_stream_optimized", stream),
        case("vmdk_stream_footer", vmdk_with_footer(stream, d / "b-footer.vmdk")),
        case("vhdx", _convert(d, content, "b.vhdx", "vhdx")),
        case("vdi", _convert(d, content, "b.vdi", "vdi")),
        case("vhd", vhd, vhd_size),
    ]


def _benign_raw_like(d: Path, content: Path) -> list[BenignCase]:
    gpt = _copy(content, d / "b-gpt.raw")
    patch(gpt, 0, mbr_sector([(0, 0xEE, (0, 2, 0), 1, VIRTUAL // 512 - 1)]))
    mbr = _copy(content, d / "b-mbr.raw")
    patch(mbr, 0, mbr_sector([(0x80, 0x83, (0, 2, 0), 2048, VIRTUAL // 512 - 2048)]))
    iso = d / "b-hand.iso"
    iso.write_bytes((bytes(32768) + iso_descriptor(64)).ljust(64 * 2048, b"\x00"))
    return [
        BenignCase("gpt_disk_as_raw", gpt, "raw", "raw", VIRTUAL, gpt, True),
        BenignCase("mbr_disk_as_raw", mbr, "raw", "raw", VIRTUAL, mbr, True),
        BenignCase("kernel_as_aki", content, "aki", "raw", None, None, False),
        BenignCase("iso_handmade", iso, "iso", "iso", 64 * 2048, None, False),
    ]


def _benign_iso_tool(d: Path) -> list[BenignCase]:
    tool = iso_tool()
    if tool is None:
        return []
    src = d / "b-iso-src"
    src.mkdir(exist_ok=True)
    (src / "README.txt").write_text("cowshed test ISO\n" * 100)
    plain = d / "b-tool.iso"
    subprocess.run([*tool, "-o", str(plain), str(src)], check=True, capture_output=True)
    cases = [BenignCase("iso_tool", plain, "iso", "iso", plain.stat().st_size, None, False)]
    if tool[0] == "xorriso":
        hybrid = _hybrid_iso(d / "b-hybrid.iso")
        cases.append(BenignCase("iso_hybrid_mbr", hybrid, "iso", "iso", hybrid.stat().st_size,
                                None, False))
    return cases


def benign_cases(directory: Path) -> list[BenignCase]:
    """Write the benign corpus into ``directory``. ISO-tool cases are left out (not faked)
    when neither xorriso nor genisoimage is installed; see :func:`iso_tool`."""
    directory.mkdir(parents=True, exist_ok=True)
    content = content_raw(directory / "b-content.raw")
    return [
        *_benign_qemu(directory, content),
        *_benign_raw_like(directory, content),
        *_benign_iso_tool(directory),
    ]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst
