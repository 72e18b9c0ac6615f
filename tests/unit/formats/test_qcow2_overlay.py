"""Overlays from templates: the same bytes as qemu-img create, one qemu-img call per size."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cowshed.errors import ExternalToolError, InvalidRequest
from cowshed.formats.qcow2_overlay import PLACEHOLDER, virtual_size, with_backing
from tests.unit.formats.conftest import AuditedQemuImg

MiB = 1 << 20


def _creates(audited: AuditedQemuImg) -> int:
    return sum(1 for call in audited.calls if call.operation == "create")


@pytest.mark.parametrize(("backing_fmt", "size"), [("qcow2", 1 << 30), ("raw", 3 * MiB + 512),
                                                   ("qcow2", 5 << 40)])
def test_same_bytes_as_qemu_img_create(audited: AuditedQemuImg, tmp_path: Path,
                                       backing_fmt: str, size: int) -> None:
    qemu = audited.qemu
    base = tmp_path / f"a-rather-long-directory-name-{'x' * 200}" / f"base.{backing_fmt}"
    base.parent.mkdir()
    qemu.create(base, backing_fmt, size)
    made, ours = tmp_path / "made.qcow2", tmp_path / "ours.qcow2"
    qemu.create(made, "qcow2", None, backing=base, backing_fmt=backing_fmt)
    qemu.create_overlay(ours, base, backing_fmt)
    assert ours.read_bytes() == made.read_bytes()
    info = qemu.info(ours, "qcow2")
    assert info.virtual_size == size and info.backing_filename == str(base)
    assert qemu.check(ours, "qcow2").clean


def test_one_qemu_img_call_per_size(audited: AuditedQemuImg, tmp_path: Path) -> None:
    qemu = audited.qemu
    bases = []
    for n in range(3):
        base = tmp_path / f"base{n}.qcow2"
        qemu.create(base, "qcow2", 64 * MiB)
        bases.append(base)
    before = _creates(audited)
    for n, base in enumerate(bases):
        qemu.create_overlay(tmp_path / f"ov{n}.qcow2", base, "qcow2")
    assert _creates(audited) == before + 1  # the template, made once
    qemu.create_overlay(tmp_path / "bigger.qcow2", bases[0], "qcow2", 128 * MiB)
    assert _creates(audited) == before + 2
    assert qemu.info(tmp_path / "bigger.qcow2", "qcow2").virtual_size == 128 * MiB


def test_overlay_reads_through_and_writes_apart(audited: AuditedQemuImg, tmp_path: Path) -> None:
    qemu = audited.qemu
    base = tmp_path / "base.qcow2"
    qemu.create(base, "qcow2", 8 * MiB)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", str(base)],
                   check=True, capture_output=True)
    ours = tmp_path / "ours.qcow2"
    qemu.create_overlay(ours, base, "qcow2")
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0x5a 0 1M",
                    "-c", "write -P 0x33 1M 1M", str(ours)], check=True, capture_output=True)
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0 1M 1M", str(base)],
                         capture_output=True, text=True, check=True).stdout
    assert "Pattern verification failed" not in out


def test_missing_backing_fails_like_qemu_img(audited: AuditedQemuImg, tmp_path: Path) -> None:
    with pytest.raises(ExternalToolError):
        audited.qemu.create_overlay(tmp_path / "ov.qcow2", tmp_path / "absent.qcow2", "qcow2")
    with pytest.raises(InvalidRequest):
        audited.qemu.create_overlay(tmp_path / "ov.qcow2", "relative.qcow2", "qcow2")


def test_header_checks(tmp_path: Path) -> None:
    not_qcow2 = tmp_path / "x"
    not_qcow2.write_bytes(b"\0" * 64)
    with pytest.raises(InvalidRequest):
        virtual_size(not_qcow2, "qcow2")
    with pytest.raises(InvalidRequest):
        with_backing(b"\0" * 4096, "/b")
    made = tmp_path / "t.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", PLACEHOLDER,
                    "-F", "raw", str(made), "1M"], check=True)
    template = made.read_bytes()
    with pytest.raises(InvalidRequest, match="too long"):
        with_backing(template, "/" + "n" * 1100)
    assert b"/short" in with_backing(template, "/short")[:65536]
