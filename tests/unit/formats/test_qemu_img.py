"""QemuImg: every operation for real, with the argv audited and the limits enforced."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cowshed.errors import ExternalToolError, InvalidRequest, UnsafeImage, UnsupportedOperation
from cowshed.formats.qemu_img import (
    QemuImg,
    QemuImgLimits,
    ResourceLimits,
    default_qemu_img,
)
from tests.hostile_images import BenignCase, content_raw
from tests.unit.formats.conftest import AuditedQemuImg

MiB = 1 << 20


def qemu_io(fmt: str, path: Path, command: str) -> None:
    subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(path)], check=True,
                   capture_output=True)


def read_bytes(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


def test_every_call_names_its_formats(audited: AuditedQemuImg, tmp_path: Path) -> None:
    q = audited.qemu
    base = tmp_path / "base.raw"
    q.create(base, "raw", 4 * MiB)
    top = tmp_path / "top.qcow2"
    q.create(top, "qcow2", None, backing=base, backing_fmt="raw")
    q.info(top, "qcow2")
    q.check(top, "qcow2")
    q.measure(top, "qcow2", "raw")
    q.convert(top, "qcow2", tmp_path / "out.raw", "raw")
    q.compare(top, "qcow2", tmp_path / "out.raw", "raw")
    q.resize(top, "qcow2", 8 * MiB)
    q.snapshot_create(top, "qcow2", "s1")
    q.commit(top, "qcow2")
    q.rebase(top, "qcow2", None, None)
    assert len(audited.calls) == 11
    for call in audited.calls:
        argv = call.argv
        assert argv[0] == "qemu-img"
        if call.operation == "snapshot":  # no -f there: the driver is forced by --image-opts
            assert "--image-opts" in argv and argv[-1].startswith("driver=qcow2,"), argv
            assert argv[-1].endswith(f"file.filename={top}")
            continue
        assert "-f" in argv, argv
        assert argv[argv.index("-f") + 1] in {"raw", "qcow2"}
        paths = [a for a in argv if a.startswith(str(tmp_path))]
        assert paths and all(Path(p).is_absolute() for p in paths)
    with_backing = [c.argv for c in audited.calls if "-b" in c.argv and c.argv[1] == "create"]
    assert with_backing and all("-F" in argv for argv in with_backing)
    compare = next(c.argv for c in audited.calls if c.operation == "compare")
    assert "-F" in compare


def test_light_and_bulk_limits(audited: AuditedQemuImg, tmp_path: Path) -> None:
    img = tmp_path / "a.qcow2"
    audited.qemu.create(img, "qcow2", MiB)
    audited.qemu.convert(img, "qcow2", tmp_path / "a.raw", "raw")
    limits = QemuImgLimits()
    assert audited.calls[0].limits == limits.light
    assert limits.light.cpu_seconds == 30 and limits.light.address_space == 2 << 30
    assert audited.calls[1].limits == limits.bulk


@pytest.mark.parametrize("bad", ["relative.qcow2", "./x.qcow2", "json:{\"file\":\"/etc/passwd\"}",
                                 "/tmp/a\nb", "nbd://localhost/x"])
def test_relative_and_protocol_names_are_refused(audited: AuditedQemuImg, bad: str) -> None:
    with pytest.raises(InvalidRequest):
        audited.qemu.info(bad, "qcow2")
    assert audited.calls == []


def test_backing_file_needs_format_and_absolute_path(
    audited: AuditedQemuImg, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest):
        audited.qemu.create(tmp_path / "t.qcow2", "qcow2", None, backing=tmp_path / "b.raw")
    with pytest.raises(InvalidRequest):
        audited.qemu.create(tmp_path / "t.qcow2", "qcow2", None, backing="b.raw",
                            backing_fmt="raw")
    with pytest.raises(InvalidRequest):
        audited.qemu.create(tmp_path / "t.qcow2", "qcow2", None)
    assert audited.calls == []


@pytest.mark.parametrize("fmt", ["qed", "luks", "ploop", "bogus"])
def test_unsupported_formats_are_refused(audited: AuditedQemuImg, fmt: str) -> None:
    with pytest.raises((InvalidRequest, UnsupportedOperation)):
        audited.qemu.info("/tmp/x", fmt)
    assert audited.calls == []


def test_disk_format_names_map_to_qemu_drivers(audited: AuditedQemuImg, tmp_path: Path) -> None:
    vhd = tmp_path / "a.vhd"
    audited.qemu.create(vhd, "vhd", MiB)
    assert audited.qemu.info(vhd, "vhd").format == "vpc"
    assert audited.calls[0].argv[audited.calls[0].argv.index("-f") + 1] == "vpc"


def test_tiny_address_space_fails_cleanly(tmp_path: Path) -> None:
    tiny = ResourceLimits(cpu_seconds=30, address_space=16 * MiB, timeout=30.0)
    q = QemuImg(QemuImgLimits(light=tiny, bulk=tiny))
    with pytest.raises(ExternalToolError, match="qemu-img create failed"):
        q.create(tmp_path / "a.qcow2", "qcow2", MiB)
    assert not (tmp_path / "a.qcow2").exists()


def test_timeout_fails_cleanly(tmp_path: Path) -> None:
    hasty = ResourceLimits(cpu_seconds=30, address_space=2 << 30, timeout=1e-6)
    q = QemuImg(QemuImgLimits(light=hasty))
    with pytest.raises(ExternalToolError, match="timed out"):
        q.create(tmp_path / "a.qcow2", "qcow2", MiB)


def test_failure_carries_stderr(tmp_path: Path) -> None:
    with pytest.raises(ExternalToolError, match="Could not open"):
        default_qemu_img().info(tmp_path / "missing.qcow2", "qcow2")


def test_reported_format_must_match_the_requested_one(tmp_path: Path) -> None:
    """qemu-img always reports the -f format; a wrapper or a future qemu that does not is
    caught. A fake qemu-img that lies stands in for it."""
    fake = tmp_path / "qemu-img"
    fake.write_text("#!/bin/sh\necho '{\"format\": \"qcow2\", \"virtual-size\": 1}'\n")
    fake.chmod(0o755)
    liar = QemuImg(binary=str(fake))
    with pytest.raises(UnsafeImage, match="reports format 'qcow2'"):
        liar.info(tmp_path / "x.raw", "raw")


def test_unparsable_output_is_a_tool_error(tmp_path: Path) -> None:
    fake = tmp_path / "qemu-img"
    fake.write_text("#!/bin/sh\necho 'not json'\n")
    fake.chmod(0o755)
    with pytest.raises(ExternalToolError, match="invalid JSON"):
        QemuImg(binary=str(fake)).info(tmp_path / "x.raw", "raw")


def test_info_is_typed(benign: list[BenignCase], tmp_path: Path) -> None:
    q = default_qemu_img()
    by_name = {c.name: c for c in benign}
    info = q.info(by_name["qcow2"].path, "qcow2")
    assert (info.format, info.virtual_size, info.cluster_size) == ("qcow2", 16 * MiB, 65536)
    assert info.backing_filename is None and info.data_file is None
    assert info.compat == "1.1" and not info.encrypted
    stream = q.info(by_name["vmdk_stream_optimized"].path, "vmdk")
    assert stream.create_type == "streamOptimized"
    top = tmp_path / "top.qcow2"
    q.create(top, "qcow2", None, backing=by_name["qcow2"].path, backing_fmt="qcow2")
    overlay = q.info(top, "qcow2")
    assert overlay.backing_filename == str(by_name["qcow2"].path)
    assert overlay.backing_format == "qcow2"


def test_check(tmp_path: Path) -> None:
    q = default_qemu_img()
    img = tmp_path / "a.qcow2"
    q.create(img, "qcow2", MiB)
    result = q.check(img, "qcow2")
    assert result.supported and result.clean and result.image_end_offset
    raw = tmp_path / "a.raw"
    q.create(raw, "raw", MiB)
    assert not q.check(raw, "raw").supported


def test_convert_and_compare(benign: list[BenignCase], tmp_path: Path) -> None:
    q = default_qemu_img()
    src = next(c for c in benign if c.name == "qcow2_compressed")
    assert src.content is not None
    out = tmp_path / "out.qcow2"
    q.convert(src.path, "qcow2", out, "qcow2", compress=True)
    assert q.compare(out, "qcow2", src.content, "raw")
    assert out.stat().st_size < src.content.stat().st_size
    other = content_raw(tmp_path / "other.raw", seed=8)
    assert not q.compare(out, "qcow2", other, "raw")
    with pytest.raises(InvalidRequest):
        q.convert(src.path, "qcow2", tmp_path / "x.raw", "raw", compress=True)


def test_dense_convert(benign: list[BenignCase], tmp_path: Path) -> None:
    q = default_qemu_img()
    src = next(c for c in benign if c.name == "qcow2")
    sparse, dense = tmp_path / "sparse.raw", tmp_path / "dense.raw"
    q.convert(src.path, "qcow2", sparse, "raw")
    q.convert(src.path, "qcow2", dense, "raw", sparse=False)
    assert sparse.stat().st_blocks * 512 <= 3 * MiB
    assert dense.stat().st_blocks * 512 >= 16 * MiB


def test_create_resize_measure(tmp_path: Path) -> None:
    q = default_qemu_img()
    img = tmp_path / "a.qcow2"
    q.create(img, "qcow2", 4 * MiB)
    q.resize(img, "qcow2", 8 * MiB)
    assert q.info(img, "qcow2").virtual_size == 8 * MiB
    with pytest.raises(ExternalToolError):
        q.resize(img, "qcow2", 2 * MiB)
    q.resize(img, "qcow2", 2 * MiB, shrink=True)
    assert q.info(img, "qcow2").virtual_size == 2 * MiB
    measured = q.measure(img, "qcow2", "raw")
    assert measured.fully_allocated == 2 * MiB
    with pytest.raises(InvalidRequest):
        q.resize(img, "qcow2", -1)


def test_internal_snapshots(tmp_path: Path) -> None:
    q = default_qemu_img()
    img = tmp_path / "a.qcow2"
    q.create(img, "qcow2", MiB)
    qemu_io("qcow2", img, "write -P 0x11 0 64k")
    q.snapshot_create(img, "qcow2", "before")
    qemu_io("qcow2", img, "write -P 0x22 0 64k")
    assert [s.name for s in q.snapshot_list(img, "qcow2")] == ["before"]
    q.snapshot_apply(img, "qcow2", "before")
    flat = tmp_path / "flat.raw"
    q.convert(img, "qcow2", flat, "raw")
    assert read_bytes(flat, 0, 4) == b"\x11" * 4
    q.snapshot_delete(img, "qcow2", "before")
    assert q.snapshot_list(img, "qcow2") == ()
    with pytest.raises(UnsupportedOperation):
        q.snapshot_create(flat, "raw", "nope")
    with pytest.raises(InvalidRequest):
        q.snapshot_create(img, "qcow2", "")


def test_snapshot_forces_qcow2_even_with_commas(tmp_path: Path) -> None:
    q = default_qemu_img()
    img = tmp_path / "a,b.qcow2"
    q.create(img, "qcow2", MiB)
    q.snapshot_create(img, "qcow2", "s")
    assert [s.name for s in q.snapshot_list(img, "qcow2")] == ["s"]
    raw = tmp_path / "r.raw"
    q.create(raw, "raw", MiB)
    with pytest.raises(ExternalToolError, match="not in qcow2 format"):
        q.snapshot_create(raw, "qcow2", "s")


def test_rebase_and_commit(tmp_path: Path) -> None:
    q = default_qemu_img()
    base = tmp_path / "base.raw"
    q.create(base, "raw", MiB)
    top = tmp_path / "top.qcow2"
    q.create(top, "qcow2", None, backing=base, backing_fmt="raw")
    qemu_io("qcow2", top, "write -P 0x33 0 4k")
    q.commit(top, "qcow2")
    assert read_bytes(base, 0, 4) == b"\x33" * 4
    qemu_io("qcow2", top, "write -P 0x44 4k 4k")
    q.rebase(top, "qcow2", None, None)  # safe: copies what the base provided
    assert q.info(top, "qcow2").backing_filename is None
    base.unlink()
    flat = tmp_path / "flat.raw"
    q.convert(top, "qcow2", flat, "raw")
    assert read_bytes(flat, 0, 8192) == b"\x33" * 4096 + b"\x44" * 4096


def test_unsafe_rebase_only_rewrites_the_header(tmp_path: Path) -> None:
    q = default_qemu_img()
    old, new = tmp_path / "old.raw", tmp_path / "new.raw"
    q.create(old, "raw", MiB)
    q.create(new, "raw", MiB)
    top = tmp_path / "top.qcow2"
    q.create(top, "qcow2", None, backing=old, backing_fmt="raw")
    old.unlink()  # an unsafe rebase must not need the old backing file
    q.rebase(top, "qcow2", new, "raw", unsafe=True)
    assert q.info(top, "qcow2").backing_filename == str(new)
