"""The ``[node]`` table: Nova's names and types, environment overrides, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowshed.config import load_settings
from cowshed.errors import ConfigError
from cowshed.node.settings import ImagesType, NodeSettings, Preallocate, VolumeClear
from tests.node.helpers import write_node_config


def load(tmp_path: Path, env: dict[str, str] | None = None, **node: object):  # type: ignore[no-untyped-def]
    config = write_node_config(tmp_path / "c.toml", **node)
    return load_settings(data_dir=tmp_path, config_file=config, environ=env or {}).node


def test_defaults_are_novas() -> None:
    s = NodeSettings()
    assert s.images_type is ImagesType.DEFAULT and s.images_type.effective is ImagesType.QCOW2
    assert s.force_raw_images is True
    assert s.preallocate_images is Preallocate.NONE
    assert s.volume_clear is VolumeClear.ZERO and s.volume_clear_size == 0
    assert s.remove_unused_original_minimum_age_seconds == 86400
    assert s.remove_unused_resized_minimum_age_seconds == 3600
    assert s.never_download_image_if_on_rbd is False
    assert s.images_rbd_pool == "rbd"


def test_toml_table_with_nova_types(tmp_path: Path) -> None:
    s = load(tmp_path, image_service_url="http://h:9292", instances_path=str(tmp_path / "i"),
             images_type="rbd", images_rbd_pool="vms", disk_cachemodes=["file=writeback"],
             hw_disk_discard="unmap", volume_clear="shred", volume_clear_size=10,
             remove_unused_base_images=False, libvirt_uri="qemu:///session")
    assert s.images_type is ImagesType.RBD
    assert s.disk_cachemodes == ("file=writeback",)
    assert s.cache_mode_for("file") == "writeback" and s.cache_mode_for("network") is None
    assert s.hw_disk_discard == "unmap"
    assert s.volume_clear is VolumeClear.SHRED and s.volume_clear_size == 10
    assert s.resolve_instances_path(tmp_path) == tmp_path / "i"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    s = load(tmp_path, {"COWSHED_NODE_IMAGES_TYPE": "raw", "COWSHED_NODE_FORCE_RAW_IMAGES": "0",
                        "COWSHED_NODE_DISK_CACHEMODES": "file=none,network=writeback"},
             images_type="qcow2")
    assert s.images_type is ImagesType.RAW and s.force_raw_images is False
    assert s.disk_cachemodes == ("file=none", "network=writeback")


@pytest.mark.parametrize(("node", "env", "message"), [
    ({"images_typ": "qcow2"}, {}, "unknown [node] setting"),
    ({"images_type": "ploop"}, {}, "images_type must be one of"),
    ({"force_raw_images": "yes"}, {}, "must be bool"),
    ({"disk_cachemodes": "file=writeback"}, {}, "must be list"),
    ({"disk_cachemodes": ["file=fast"]}, {}, "SOURCE=MODE"),
    ({"hw_disk_discard": "trim"}, {}, "hw_disk_discard"),
    ({"volume_clear_size": -1}, {}, "must not be negative"),
    ({"images_type": "rbd", "force_raw_images": False}, {}, "needs force_raw_images"),
    ({"image_service_url": "http://h:9292/v2"}, {}, "without /v2"),
    ({}, {"COWSHED_NODE_NOPE": "1"}, "unknown environment setting"),
    ({}, {"COWSHED_NODE_VOLUME_CLEAR_SIZE": "ten"}, "as an integer"),
])
def test_bad_settings_are_refused(tmp_path: Path, node: dict[str, object],
                                  env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load(tmp_path, env, **node)


def test_server_settings_accept_the_node_table(tmp_path: Path) -> None:
    """One TOML for the server and the node: the server's loader keeps the [node] table."""
    config = tmp_path / "both.toml"
    config.write_text('show_image_direct_url = true\n[node]\nimages_type = "raw"\n')
    settings = load_settings(data_dir=tmp_path, config_file=config, environ={})
    assert settings.show_image_direct_url and settings.node.images_type is ImagesType.RAW
