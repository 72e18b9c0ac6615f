"""Pure parts of the dev Ceph cluster: the conf text, the layout, and the bindings installer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cowshed.dev import ceph_bindings
from cowshed.dev.ceph_conf import CephPaths, ConfSettings, free_port, render_conf


def _conf(tmp_path: Path) -> dict[str, dict[str, str]]:
    text = render_conf(CephPaths(tmp_path), ConfSettings("f-s-i-d", 6790, 1 << 30))
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def test_conf_has_the_settings_a_single_host_cluster_needs(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    glob = conf["global"]
    assert glob["fsid"] == "f-s-i-d"
    assert glob["mon host"] == "v1:127.0.0.1:6790"
    for key in ("auth cluster required", "auth service required", "auth client required"):
        assert glob[key] == "none"
    assert glob["osd objectstore"] == "memstore"
    assert glob["memstore device bytes"] == str(1 << 30)
    assert glob["osd pool default size"] == "1"
    assert glob["mon allow pool size one"] == "true"
    assert glob["ms bind msgr2"] == "false"
    assert glob["paxos propose interval"] == "0.05"
    assert glob["osd crush update on start"] == "false"
    assert glob["osd class update on start"] == "false"
    assert glob["mon allow pool delete"] == "true"
    assert glob["admin socket"].startswith(str(tmp_path / "run"))
    assert glob["log file"].startswith(str(tmp_path / "log"))
    assert conf["mon"]["mon data"] == str(tmp_path / "mon")
    assert conf["osd"]["osd data"] == f"{tmp_path}/osd.$id"


def test_runtime_entries_keep_logs(tmp_path: Path) -> None:
    paths = CephPaths(tmp_path)
    (tmp_path / "osd.0").mkdir()
    (tmp_path / "osd.3").mkdir()
    entries = paths.runtime_entries()
    assert tmp_path / "osd.0" in entries and tmp_path / "osd.3" in entries
    assert paths.log_dir not in entries
    assert all(entry.parent == tmp_path for entry in entries)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_bindings_install_links_only_the_two_modules(tmp_path: Path) -> None:
    suffix = ceph_bindings.extension_suffix()
    source = tmp_path / "dist-packages"
    source.mkdir()
    for name in ("rados", "rbd", "rgw", "cephfs"):
        (source / f"{name}{suffix}").write_bytes(b"")
    site = tmp_path / "site-packages"
    site.mkdir()
    for _ in range(2):  # idempotent
        result = ceph_bindings.install(site, source)
    assert sorted(p.name for p in result.link_dir.iterdir()) == [
        f"rados{suffix}", f"rbd{suffix}"]
    assert all(p.resolve().parent == source for p in result.link_dir.iterdir())
    assert result.pth_file == site / ceph_bindings.PTH_NAME
    assert result.pth_file.read_text().strip() == str(result.link_dir)


def test_bindings_missing_names_the_packages(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="python3-rados"):
        ceph_bindings.install(tmp_path, tmp_path / "nothing-here")


def test_pool_size_and_osd_level_crush(tmp_path: Path) -> None:
    text = render_conf(CephPaths(tmp_path), ConfSettings("f", 6790, 1 << 30, pool_size=2,
                                                         pool_min_size=1))
    assert "osd pool default size = 2" in text
    assert "osd pool default min size = 1" in text
    # copies go to distinct OSDs (all under one host), and a stopped OSD says so to the mon
    assert "osd crush chooseleaf type = 0" in text
    assert "osd fast shutdown = false" in text
