"""Volume status machines, volume types from configuration, and the volume settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowshed.config import load_settings
from cowshed.domain.volumes import (
    SNAPSHOT_TRANSITIONS,
    VOLUME_TRANSITIONS,
    SnapshotStatus,
    VolumeStatus,
    check_snapshot_transition,
    check_volume_transition,
)
from cowshed.errors import ConfigError, InvalidRequest, InvalidState, NotFound
from cowshed.services.volumes.types import VolumeTypes


def test_every_status_has_a_transition_row() -> None:
    assert set(VOLUME_TRANSITIONS) == set(VolumeStatus)
    assert set(SNAPSHOT_TRANSITIONS) == set(SnapshotStatus)


@pytest.mark.parametrize(("current", "target"), [
    (VolumeStatus.AVAILABLE, VolumeStatus.DELETING),
    (VolumeStatus.AVAILABLE, VolumeStatus.ATTACHING),
    (VolumeStatus.IN_USE, VolumeStatus.DETACHING),
    (VolumeStatus.EXTENDING, VolumeStatus.ERROR_EXTENDING),
])
def test_allowed_volume_transitions(current: VolumeStatus, target: VolumeStatus) -> None:
    check_volume_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [
    (VolumeStatus.IN_USE, VolumeStatus.DELETING),
    (VolumeStatus.CREATING, VolumeStatus.DELETING),
    (VolumeStatus.ERROR, VolumeStatus.AVAILABLE),
])
def test_refused_volume_transitions_are_400s(current: VolumeStatus, target: VolumeStatus) -> None:
    with pytest.raises(InvalidState) as info:
        check_volume_transition(current, target)
    assert isinstance(info.value, InvalidRequest)


def test_snapshot_in_error_can_only_be_deleted() -> None:
    check_snapshot_transition(SnapshotStatus.ERROR, SnapshotStatus.DELETING)
    with pytest.raises(InvalidState):
        check_snapshot_transition(SnapshotStatus.ERROR, SnapshotStatus.RESTORING)


def test_embedded_mode_has_one_file_volume_type(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={})
    types = VolumeTypes(settings)
    [only] = types.list()
    assert (only.name, only.backend_kind) == ("file", "file")
    assert types.default() == only
    assert types.get(only.id) == only
    assert only.extra_specs["volume_backend_name"] == "file"
    assert settings.effective_volume_backends()[0].options["volumes_dir"] == str(tmp_path / "volumes")
    with pytest.raises(NotFound):
        types.get("nope")


def test_volume_backends_from_toml(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        'default_volume_type = "ceph"\n'
        '[volume_backends.local]\ntype = "file"\nvolumes_dir = "/srv/v"\n'
        '[volume_backends.ceph]\ntype = "rbd"\nrbd_pool = "volumes"\n'
    )
    settings = load_settings(data_dir=tmp_path, config_file=conf, environ={})
    types = VolumeTypes(settings)
    assert [t.name for t in types.list()] == ["local", "ceph"]
    assert types.default().backend_kind == "rbd"
    # ids are derived from names: stable across processes
    assert VolumeTypes(settings).get("ceph").id == types.get("ceph").id


@pytest.mark.parametrize("body", [
    'default_volume_type = "nope"\n',
    '[volume_backends.x]\ntype = "lvm"\n',
    '[volume_backends.x]\nrbd_pool = "v"\n',
])
def test_bad_volume_settings_are_config_errors(tmp_path: Path, body: str) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(body)
    with pytest.raises(ConfigError):
        load_settings(data_dir=tmp_path, config_file=conf, environ={})
