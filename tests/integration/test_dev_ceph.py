"""The dev Ceph cluster itself: health, the CLI, and ``down`` touching only its own daemons."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cowshed.cli.dev import dev
from cowshed.dev.ceph import DevCephCluster, pid_is_ours

pytestmark = pytest.mark.ceph


def test_session_cluster_is_healthy(ceph_cluster: DevCephCluster) -> None:
    status = ceph_cluster.status()
    assert status.healthy, status
    assert set(status.pools) >= {"images", "volumes"}
    assert set(status.daemons) == {"mon.a", "osd.0"}
    assert status.fsid == ceph_cluster.fsid
    conf = ceph_cluster.conf_path.read_text()
    assert "osd objectstore = memstore" in conf
    assert "auth client required = none" in conf
    fsid = ceph_cluster.fsid
    ceph_cluster.up()  # idempotent: the running cluster is kept
    assert ceph_cluster.fsid == fsid
    assert ceph_cluster.status().daemons == status.daemons


def test_cli_second_cluster_and_down_only_stops_its_own(
    tmp_path: Path, ceph_cluster: DevCephCluster
) -> None:
    runner = CliRunner()
    directory = tmp_path / "second"
    up = runner.invoke(dev, ["ceph", "up", "--dir", str(directory), "--osds", "2",
                             "--memstore-gib", "1", "--pool-size", "2"])
    assert up.exit_code == 0, up.output
    # two copies on two OSDs of the one host, and the PGs got clean: CRUSH picks OSDs
    assert "osd pool default size = 2" in (directory / "ceph.conf").read_text()
    assert f"conf: {directory / 'ceph.conf'}" in up.output
    fsid = up.output.split("fsid: ")[1].strip()
    assert fsid != ceph_cluster.fsid

    status = runner.invoke(dev, ["ceph", "status", "--dir", str(directory)])
    assert status.exit_code == 0, status.output
    assert "osd.1:" in status.output and "active+clean" in status.output
    second = DevCephCluster(directory)
    pids = [pid for pid in second.status().daemons.values() if pid is not None]
    assert len(pids) == 3

    down = runner.invoke(dev, ["ceph", "down", "--dir", str(directory)])
    assert down.exit_code == 0, down.output
    assert not any(pid_is_ours(pid, second.conf_path) for pid in pids)
    assert not (directory / "ceph.conf").exists()
    assert (directory / "log").is_dir()  # logs are kept
    assert runner.invoke(dev, ["ceph", "status", "--dir", str(directory)]).exit_code == 1
    assert ceph_cluster.status().healthy  # the other cluster is untouched


def test_down_never_signals_a_foreign_pid(tmp_path: Path) -> None:
    """A pid file naming a process that is not this cluster's daemon is left alone."""
    cluster = DevCephCluster(tmp_path / "c")
    cluster.paths.pid_dir.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        cluster.paths.pid_file("osd.0").write_text(f"{stranger.pid}\n")
        assert cluster.status().daemons == {"osd.0": None}
        cluster.down()
        assert stranger.poll() is None
        assert not cluster.paths.pid_dir.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_cli_refuses_more_copies_than_osds(tmp_path: Path) -> None:
    result = CliRunner().invoke(dev, ["ceph", "up", "--dir", str(tmp_path / "c"), "--osds", "2",
                                      "--pool-size", "3"])
    assert result.exit_code == 2 and "pool size must be 1…2" in result.output, result.output
    assert not (tmp_path / "c").exists()
