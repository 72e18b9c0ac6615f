"""Accepted formats and convert_for_store: checked before qemu-img, identical content after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cowshed.errors import ExternalToolError, InvalidRequest, UnsafeImage
from cowshed.formats import policy
from cowshed.formats.inspect import (
    DEFAULT_CONFIG,
    InspectionResult,
    InspectorConfig,
    inspect_file,
)
from cowshed.formats.policy import (
    ConversionPolicy,
    ConversionTarget,
    check_container_format,
    check_disk_format,
    convert_for_store,
    inspection_required,
)
from cowshed.formats.qemu_img import QemuImg, QemuImgLimits, ResourceLimits
from tests.hostile_images import BenignCase, HostileCase
from tests.unit.formats.conftest import AuditedQemuImg

MiB = 1 << 20


def by_name(cases: list[BenignCase], name: str) -> BenignCase:
    return next(c for c in cases if c.name == name)


def test_accepted_formats() -> None:
    for fmt in ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop"):
        assert check_disk_format(fmt) == fmt
    for bad in ("qed", "gpt", "luks", "vmdk4", ""):
        with pytest.raises(InvalidRequest):
            check_disk_format(bad)
    assert check_container_format("bare") == "bare"
    with pytest.raises(InvalidRequest):
        check_container_format("zip")
    assert inspection_required("bare")
    assert not inspection_required("ova")


def test_policy_from_setting() -> None:
    assert ConversionPolicy.from_setting("").target is ConversionTarget.KEEP
    assert ConversionPolicy.from_setting("raw").target_for("qcow2") == "raw"
    assert ConversionPolicy.from_setting("qcow2").target_for("vmdk") == "qcow2"
    assert ConversionPolicy.from_setting("raw").target_for("iso") == "iso"
    assert ConversionPolicy.from_setting("keep").target_for("vhdx") == "vhdx"
    with pytest.raises(InvalidRequest):
        ConversionPolicy.from_setting("vmdk")


CONVERTIBLE = ["qcow2", "qcow2_compressed", "qcow2_v2", "vmdk_monolithic_sparse",
               "vmdk_stream_optimized", "vmdk_stream_footer", "vhdx", "vdi", "vhd",
               "raw", "gpt_disk_as_raw", "mbr_disk_as_raw"]


def test_every_convertible_case_is_converted_below(benign: list[BenignCase]) -> None:
    assert {c.name for c in benign if c.convertible} == set(CONVERTIBLE)


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_convert_to_raw_keeps_content_and_sparseness(
    benign: list[BenignCase], name: str, tmp_path: Path, audited: AuditedQemuImg
) -> None:
    case = by_name(benign, name)
    assert case.content is not None
    dst = tmp_path / "out.raw"
    result = convert_for_store(case.path, case.declared_format, dst, "raw", audited.qemu)
    if case.declared_format == "raw":
        assert not result.converted and result.path == case.path and not dst.exists()
        return
    assert result.converted and result.path == dst
    assert (result.disk_format, result.size) == ("raw", dst.stat().st_size)
    assert result.virtual_size == case.virtual_size == dst.stat().st_size
    assert audited.qemu.compare(dst, "raw", case.content, "raw")
    # 2 MiB of data in 16 MiB: the zeros must stay holes
    assert dst.stat().st_blocks * 512 <= 3 * MiB
    assert [c.operation for c in audited.calls] == ["info", "measure", "convert", "compare"]


def test_convert_raw_to_qcow2(benign: list[BenignCase], tmp_path: Path) -> None:
    case = by_name(benign, "raw")
    dst = tmp_path / "out.qcow2"
    result = convert_for_store(case.path, "raw", dst, "qcow2", QemuImg())
    assert (result.disk_format, result.virtual_size, result.converted) == ("qcow2", 16 * MiB, True)
    assert QemuImg().compare(dst, "qcow2", case.path, "raw")


def test_output_is_fsynced_and_reinspected(
    benign: list[BenignCase], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    inspected: list[tuple[str, str | None]] = []

    def inspect(path: str | Path, declared: str | None,
                config: InspectorConfig = DEFAULT_CONFIG) -> InspectionResult:
        inspected.append((str(path), declared))
        return inspect_file(path, declared, config=config)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(policy, "inspect_file", inspect)
    dst = tmp_path / "out.raw"
    convert_for_store(by_name(benign, "vdi").path, "vdi", dst, "raw", QemuImg())
    assert synced == [str(dst), str(tmp_path)]
    assert inspected == [(str(by_name(benign, "vdi").path), "vdi"), (str(dst), "raw")]


def test_same_format_or_keep_writes_nothing(
    benign: list[BenignCase], tmp_path: Path, audited: AuditedQemuImg
) -> None:
    qcow2 = by_name(benign, "qcow2")
    for target in ("qcow2", "keep", ""):
        result = convert_for_store(qcow2.path, "qcow2", tmp_path / "x", target, audited.qemu)
        assert (result.converted, result.path, result.disk_format) == (False, qcow2.path, "qcow2")
        assert result.virtual_size == 16 * MiB
    assert not (tmp_path / "x").exists()
    assert {c.operation for c in audited.calls} == {"info"}  # still checked by qemu-img


def test_iso_is_stored_as_is_without_qemu(
    benign: list[BenignCase], tmp_path: Path, audited: AuditedQemuImg
) -> None:
    iso = by_name(benign, "iso_handmade")
    result = convert_for_store(iso.path, "iso", tmp_path / "x.raw", "raw", audited.qemu)
    assert (result.converted, result.disk_format, result.virtual_size) == (False, "iso", 131072)
    assert audited.calls == []


def test_hostile_images_never_reach_qemu_img(
    hostile: list[HostileCase], tmp_path: Path, audited: AuditedQemuImg
) -> None:
    for case in hostile:
        with pytest.raises(UnsafeImage) as info:
            convert_for_store(case.path, case.declared_format, tmp_path / "out.raw", "raw",
                              audited.qemu)
        assert case.expect in info.value.message, case.name
    assert audited.calls == []
    assert not (tmp_path / "out.raw").exists()


def test_qemu_img_info_is_checked_too(
    benign: list[BenignCase], tmp_path: Path, audited: AuditedQemuImg
) -> None:
    """Defence in depth: what qemu-img reports is checked against the store's policy."""
    vmdk = by_name(benign, "vmdk_monolithic_sparse")
    strict = ConversionPolicy(ConversionTarget.RAW, vmdk_allowed_types=frozenset({"x"}))
    with pytest.raises(UnsafeImage, match="create-type 'monolithicSparse'"):
        convert_for_store(vmdk.path, "vmdk", tmp_path / "out.raw", strict, audited.qemu)
    assert [c.operation for c in audited.calls] == ["info"]


def test_failed_conversion_leaves_no_output(benign: list[BenignCase], tmp_path: Path) -> None:
    starved = ResourceLimits(cpu_seconds=None, address_space=16 * MiB, timeout=None)
    qemu = QemuImg(QemuImgLimits(bulk=starved))
    dst = tmp_path / "out.raw"
    dst.write_bytes(b"stale half-written output")
    with pytest.raises(ExternalToolError, match="qemu-img convert failed"):
        convert_for_store(by_name(benign, "qcow2").path, "qcow2", dst, "raw", qemu)
    assert not dst.exists()


def test_output_must_differ_from_source(benign: list[BenignCase]) -> None:
    qcow2 = by_name(benign, "qcow2")
    with pytest.raises(InvalidRequest):
        convert_for_store(qcow2.path, "qcow2", qcow2.path, "raw", QemuImg())
