"""The format inspector: hostile images refused for the right reason, benign ones accepted."""

from __future__ import annotations

import random
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oslo_utils.imageutils import format_inspector as oslo

from cowshed.errors import FormatMismatch, InvalidRequest, UnsafeImage
from cowshed.formats import inspect as inspect_mod
from cowshed.formats.inspect import (
    PIECE,
    InspectionResult,
    InspectorConfig,
    StreamInspector,
    inspect_file,
)
from tests.hostile_images import (
    BenignCase,
    HostileCase,
    MiB,
    luks_header,
    mbr_sector,
    qemu_img,
    vmdk_with_footer,
)

GiB = 1 << 30


def blocks(data: bytes, rng: random.Random, small: bool = False) -> Iterator[bytes]:
    """Cut ``data`` into random blocks (MiB-sized, or tiny and unaligned when ``small``)."""
    pos = 0
    while pos < len(data):
        size = rng.randint(1, 9000) if small else rng.randint(1, 3 * MiB)
        yield data[pos : pos + size]
        pos += size


def stream(path: Path, declared: str | None, rng: random.Random, small: bool = False,
           config: InspectorConfig | None = None) -> InspectionResult:
    inspector = StreamInspector(declared, config=config or InspectorConfig())
    for block in blocks(path.read_bytes(), rng, small):
        inspector.feed(block)
    return inspector.finish()


def refusal(fn: Any) -> str:
    """Run fn; return the refusal message, or a marker if it was accepted.

    The marker must not quote the result: its check names could match an expected fragment.
    """
    try:
        result = fn()
    except UnsafeImage as exc:
        return exc.message
    return f"ACCEPTED as {result.detected_format}"


# -- the hostile corpus ----------------------------------------------------------------------


def test_hostile_corpus_is_large_and_named(hostile: list[HostileCase]) -> None:
    names = [c.name for c in hostile]
    assert len(names) >= 20
    assert len(set(names)) == len(names)
    assert all(c.path.is_absolute() and c.path.exists() for c in hostile)


@pytest.mark.parametrize("small", [False, True], ids=["mib-blocks", "tiny-blocks"])
def test_stream_refuses_every_hostile_image(hostile: list[HostileCase], small: bool) -> None:
    rng = random.Random(1234)
    wrong = {}
    for case in hostile:
        message = refusal(lambda c=case: stream(c.path, c.declared_format, rng, small))
        if case.expect not in message:
            wrong[case.name] = message
    assert not wrong, f"refused for the wrong reason or accepted: {wrong}"


def test_inspect_file_refuses_every_hostile_image(hostile: list[HostileCase]) -> None:
    wrong = {}
    for case in hostile:
        message = refusal(lambda c=case: inspect_file(c.path, c.declared_format))
        if case.expect not in message:
            wrong[case.name] = message
    assert not wrong, f"refused for the wrong reason or accepted: {wrong}"


def test_inspection_never_starts_a_process(
    hostile: list[HostileCase], benign: list[BenignCase], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started during inspection: {args}")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    for case in hostile:
        with pytest.raises(UnsafeImage):
            inspect_file(case.path, case.declared_format)
    for good in benign:
        inspect_file(good.path, good.declared_format)


def test_mismatch_errors_are_format_mismatch(hostile: list[HostileCase]) -> None:
    by_name = {c.name: c for c in hostile}
    for name in ("raw_is_qcow2", "qcow2_is_raw", "qcow2_is_vmdk", "raw_is_luks"):
        case = by_name[name]
        with pytest.raises(FormatMismatch):
            inspect_file(case.path, case.declared_format)
    with pytest.raises(UnsafeImage) as info:  # a safety failure is not a mismatch
        inspect_file(by_name["qcow2_data_file"].path, "qcow2")
    assert not isinstance(info.value, FormatMismatch)


# -- the benign corpus -----------------------------------------------------------------------


def test_benign_corpus_has_every_format(benign: list[BenignCase]) -> None:
    detected = {c.detected_format for c in benign}
    assert {"raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso"} <= detected


@pytest.mark.parametrize("small", [False, True], ids=["mib-blocks", "tiny-blocks"])
def test_stream_accepts_benign_images(benign: list[BenignCase], small: bool) -> None:
    rng = random.Random(99)
    for case in benign:
        result = stream(case.path, case.declared_format, rng, small)
        assert (result.detected_format, result.virtual_size) == (
            case.detected_format, case.virtual_size), case.name
        assert "single_format" in result.safety_checks


def test_inspect_file_accepts_benign_images(benign: list[BenignCase]) -> None:
    for case in benign:
        result = inspect_file(case.path, case.declared_format)
        assert (result.detected_format, result.virtual_size) == (
            case.detected_format, case.virtual_size), case.name


def test_result_does_not_depend_on_block_size(benign: list[BenignCase]) -> None:
    for case in benign:
        data = case.path.read_bytes()
        results = set()
        for size in (1 << 23, PIECE, PIECE + 1, 4097):
            inspector = StreamInspector(case.declared_format)
            for pos in range(0, len(data), size):
                inspector.feed(memoryview(data)[pos : pos + size])
            results.add(inspector.finish())
        assert len(results) == 1, (case.name, results)


def test_named_checks_are_reported(benign: list[BenignCase]) -> None:
    by_name = {c.name: c for c in benign}
    checks = inspect_file(by_name["qcow2"].path, "qcow2").safety_checks
    assert {"qcow2.backing_file", "qcow2.data_file", "qcow2.unknown_features",
            "format_match", "max_virtual_size"} <= set(checks)
    footer = inspect_file(by_name["vmdk_stream_footer"].path, "vmdk").safety_checks
    assert {"vmdk.descriptor", "vmdk.footer", "vmdk.sparse_header"} <= set(footer)
    gpt = inspect_file(by_name["gpt_disk_as_raw"].path, "raw").safety_checks
    assert {"gpt.mbr", "partition_table.gpt"} <= set(gpt)


def test_check_name_table_matches_oslo() -> None:
    """Guards the reported check names against an oslo.utils upgrade adding or renaming one."""
    for name, cls in oslo.ALL_FORMATS.items():
        expected = set(inspect_mod._ORACLE_CHECKS.get(name, ()))
        actual = set(cls()._safety_checks) - {"null", "banned"}
        assert actual == expected, name


# -- policy details --------------------------------------------------------------------------


def test_declared_raw_with_partition_table_counts_as_raw(benign: list[BenignCase]) -> None:
    gpt = next(c for c in benign if c.name == "gpt_disk_as_raw")
    result = inspect_file(gpt.path, "raw")
    assert result.detected_format == "raw"
    assert result.virtual_size == gpt.path.stat().st_size


def test_iso_made_by_a_real_tool(benign: list[BenignCase]) -> None:
    made = [c for c in benign if c.name == "iso_tool"]
    if not made:
        pytest.skip("neither xorriso nor genisoimage is installed (apt-get install xorriso); "
                    "only the hand-built ISO descriptor is tested")
    result = inspect_file(made[0].path, "iso")
    assert (result.detected_format, result.virtual_size) == ("iso", made[0].path.stat().st_size)


def test_hybrid_iso_is_an_iso(benign: list[BenignCase]) -> None:
    hybrid = [c for c in benign if c.name == "iso_hybrid_mbr"]
    if not hybrid:
        pytest.skip("xorriso is not installed (apt-get install xorriso): no hybrid ISO")
    assert inspect_file(hybrid[0].path, "iso").detected_format == "iso"
    with pytest.raises(FormatMismatch):
        inspect_file(hybrid[0].path, "raw")


@pytest.mark.parametrize("declared", ["ami", "ari", "aki", "ploop"])
def test_opaque_formats_accept_raw_data(tmp_path: Path, declared: str) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(bytes(8192))
    result = inspect_file(kernel, declared)
    assert (result.detected_format, result.virtual_size) == ("raw", None)


def test_opaque_format_refuses_a_real_image(benign: list[BenignCase]) -> None:
    qcow2 = next(c for c in benign if c.name == "qcow2")
    with pytest.raises(FormatMismatch):
        inspect_file(qcow2.path, "ami")


def test_no_declared_format_reports_what_it_finds(benign: list[BenignCase]) -> None:
    for case in benign:
        if case.declared_format in ("aki", "raw"):
            continue
        result = inspect_file(case.path, None)
        assert result.detected_format == case.detected_format, case.name
        assert "format_match" not in result.safety_checks


@pytest.mark.parametrize("declared", ["qcow3", "gpt", "qed", "mbr", ""])
def test_undeclarable_formats_are_invalid_requests(declared: str) -> None:
    with pytest.raises(InvalidRequest):
        StreamInspector(declared)


def test_gpt_checks_can_be_made_nonfatal(hostile: list[HostileCase]) -> None:
    bad_boot = next(c for c in hostile if c.name == "mbr_bad_boot_flag")
    lenient = InspectorConfig(gpt_safety_checks_nonfatal=frozenset({"mbr"}))
    result = inspect_file(bad_boot.path, "raw", config=lenient)
    assert result.detected_format == "raw"
    assert "gpt.mbr" not in result.safety_checks


def test_max_virtual_size_is_configurable(benign: list[BenignCase]) -> None:
    qcow2 = next(c for c in benign if c.name == "qcow2")
    with pytest.raises(UnsafeImage, match="max_virtual_size"):
        inspect_file(qcow2.path, "qcow2", config=InspectorConfig(max_virtual_size=MiB))


def test_luks_declared_luks_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "disk.luks"
    path.write_bytes(luks_header(payload_sectors=4096).ljust(4 * MiB, b"\x00"))
    result = inspect_file(path, "luks")
    assert result.detected_format == "luks"
    assert result.virtual_size == 4 * MiB - 4096 * 512


def test_luks_version_2_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "disk.luks"
    path.write_bytes(luks_header(version=2).ljust(4 * MiB, b"\x00"))
    with pytest.raises(UnsafeImage, match=r"luks\.version"):
        inspect_file(path, "luks")


def test_empty_stream(tmp_path: Path) -> None:
    """No byte, nothing to open or refuse, whatever the declared format (Nova activates the
    zero-byte image of a volume-backed snapshot, declared qcow2, with an empty upload); a
    single byte is data again, and must match."""
    assert StreamInspector("raw").finish() == InspectionResult("raw", 0, ("empty",))
    assert StreamInspector("qcow2").finish() == InspectionResult("qcow2", 0, ("empty",))
    one = StreamInspector("qcow2")
    one.feed(b"Q")
    with pytest.raises(FormatMismatch):
        one.finish()


def test_feed_after_finish_is_a_programming_error() -> None:
    inspector = StreamInspector("raw")
    inspector.feed(b"x" * 10)
    first = inspector.finish()
    assert inspector.finish() is first
    with pytest.raises(RuntimeError):
        inspector.feed(b"more")


def test_refusal_is_raised_again_by_a_second_finish(hostile: list[HostileCase]) -> None:
    case = next(c for c in hostile if c.name == "qcow2_backing_passwd")
    inspector = StreamInspector("qcow2")
    inspector.feed(case.path.read_bytes())
    for _ in range(2):
        with pytest.raises(UnsafeImage, match="backing_file"):
            inspector.finish()


def test_small_vmdk_with_footer_while_other_inspectors_still_read(tmp_path: Path) -> None:
    """The image ends before the VHDX inspector's region table (256 KiB): the footer check
    must still see the last bytes."""
    raw = tmp_path / "zero.raw"
    raw.write_bytes(bytes(MiB))
    stream_vmdk = tmp_path / "s.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
             str(raw), str(stream_vmdk))
    small = vmdk_with_footer(stream_vmdk, tmp_path / "footer.vmdk")
    assert small.stat().st_size < 256 * 1024
    for result in (inspect_file(small, "vmdk"), stream(small, "vmdk", random.Random(5), True)):
        assert result.virtual_size == MiB
        assert "vmdk.footer" in result.safety_checks


def test_vhdx_in_large_blocks_keeps_its_virtual_size(benign: list[BenignCase]) -> None:
    """oslo's VHDX inspector loses the size item when fed 8 MiB chunks; pieces fix that."""
    vhdx = next(c for c in benign if c.name == "vhdx")
    inspector = StreamInspector("vhdx")
    data = vhdx.path.read_bytes()
    for pos in range(0, len(data), 8 * MiB):
        inspector.feed(data[pos : pos + 8 * MiB])
    assert inspector.finish().virtual_size == vhdx.virtual_size


# -- cost ------------------------------------------------------------------------------------


def _feed_gib(
    head: bytes, declared: str, tail: bytes = b""
) -> tuple[float, InspectionResult | UnsafeImage]:
    """Feed head + zeros (1 GiB in 8 MiB blocks) + tail; return the time and the outcome."""
    block = bytes(8 * MiB)
    inspector = StreamInspector(declared)
    outcome: InspectionResult | UnsafeImage
    start = time.perf_counter()
    inspector.feed(head + block[len(head):])
    for _ in range(127):
        inspector.feed(block)
    if tail:
        inspector.feed(tail)
    try:
        outcome = inspector.finish()
    except UnsafeImage as exc:
        outcome = exc
    return time.perf_counter() - start, outcome


def test_feeding_a_gib_is_cheap_for_raw() -> None:
    elapsed, result = _feed_gib(b"", "raw")
    assert isinstance(result, InspectionResult)
    assert result.virtual_size == GiB
    assert elapsed < 0.5, elapsed


def test_feeding_a_gib_is_cheap_with_a_vmdk_footer(benign: list[BenignCase]) -> None:
    """The streamOptimized footer check needs the stream's tail: only the tail is kept."""
    footer_vmdk = next(c for c in benign if c.name == "vmdk_stream_footer").path.read_bytes()
    head, tail = footer_vmdk[: 64 * 1024], footer_vmdk[-1536:]
    elapsed, result = _feed_gib(head, "vmdk", tail)
    assert isinstance(result, InspectionResult)
    assert result.detected_format == "vmdk"
    assert "vmdk.footer" in result.safety_checks
    assert elapsed < 0.5, elapsed


def test_feeding_a_gib_is_cheap_for_a_vhdx_pointing_far_away(tmp_path: Path) -> None:
    """A VHDX whose metadata region lies beyond the data keeps one inspector hungry to the end.

    That is the worst case: 64 KiB pieces all the way, still well under the budget.
    """
    vhdx = tmp_path / "far.vhdx"
    qemu_img("create", "-q", "-f", "vhdx", str(vhdx), "16M")
    head = bytearray(vhdx.read_bytes()[: 256 * 1024])
    table = 192 * 1024  # the region table the inspector reads
    count = struct.unpack_from("<I", head, table + 8)[0]
    for i in range(count):
        struct.pack_into("<Q", head, table + 16 + 32 * i + 16, 1 << 50)
    elapsed, outcome = _feed_gib(bytes(head), "vhdx")
    assert isinstance(outcome, UnsafeImage)
    assert "vhdx.complete" in outcome.message
    assert elapsed < 0.5, elapsed


def test_inspect_file_reads_only_the_head_of_a_big_file(tmp_path: Path) -> None:
    big = tmp_path / "sparse.raw"
    with open(big, "wb") as fh:
        fh.write(mbr_sector([(0x80, 0x83, (0, 2, 0), 2048, 4096)]))
        fh.truncate(8 * GiB)
    start = time.perf_counter()
    result = inspect_file(big, "raw")
    assert result.virtual_size == 8 * GiB
    assert time.perf_counter() - start < 0.5
