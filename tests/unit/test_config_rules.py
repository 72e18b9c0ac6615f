"""Settings are checked at load time: ranges and references, one line naming the rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cowshed.config import Settings, load_settings
from cowshed.config_rules import RANGES
from cowshed.errors import ConfigError


def load(tmp_path: Path, toml: str = "", **env: str) -> Settings:
    path = tmp_path / "cowshed.toml"
    path.write_text(toml)
    return load_settings(data_dir=tmp_path / "d", config_file=path,
                         environ={f"COWSHED_{k.upper()}": v for k, v in env.items()})


@pytest.mark.parametrize(("env", "fragment"), [
    ({"image_size_cap": "-1"}, "'image_size_cap' must be at least 1, got -1"),
    ({"image_size_cap": "0"}, "'image_size_cap' must be at least 1, got 0"),
    ({"max_virtual_size": "0"}, "'max_virtual_size' must be at least 1"),
    ({"limit_param_default": "0"}, "'limit_param_default' must be at least 1"),
    ({"api_limit_max": "-5"}, "'api_limit_max' must be at least 1"),
    ({"image_tag_quota": "-1"}, "'image_tag_quota' must be 0 or more, got -1"),
    ({"image_property_quota": "-2"}, "'image_property_quota' must be 0 or more"),
    ({"allowed_ports": "80,70000"}, "'allowed_ports' must be between 1 and 65535, got 70000"),
    ({"disallowed_ports": "0"}, "'disallowed_ports' must be between 1 and 65535, got 0"),
    ({"default_backend": "fast"},
     "default_backend 'fast' is not a configured store (file); with no [stores.*] the one "
     "store is 'file'"),
    ({"enabled_import_methods": "glance-direct,ftp"},
     "enabled_import_methods: unknown method(s) ftp"),
    ({"default_owner": ""}, "'default_owner' must not be empty"),
    ({"database_url": "mysql://u:pw@db/x"},
     "database_url must be a sqlite:// or postgresql+psycopg:// URL, got 'mysql://u:***@db/x'"),
    ({"data_dir_lock": "false"}, "data_dir_lock = false needs a PostgreSQL database_url"),
])
def test_bad_values_are_refused_at_load(tmp_path: Path, env: dict[str, str],
                                        fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **env)
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message


def test_default_backend_must_name_a_configured_store(tmp_path: Path) -> None:
    toml = '[stores.fast]\ntype = "memory"\n'
    with pytest.raises(ConfigError, match="default_backend 'file' is not a configured store"):
        load(tmp_path, toml)
    assert load(tmp_path, toml, default_backend="fast").default_backend == "fast"


def test_good_values_pass(tmp_path: Path) -> None:
    settings = load(tmp_path, image_size_cap="1", image_tag_quota="0", allowed_ports="1,65535",
                    data_dir_lock="false",
                    database_url="postgresql+psycopg://u@127.0.0.1:1/x")
    assert (settings.image_size_cap, settings.data_dir_lock) == (1, False)


def test_every_integer_setting_has_a_range() -> None:
    """A new integer setting fails here until config_rules.RANGES says what it may be."""
    ints = [f.name for f in dataclasses.fields(Settings) if f.type in ("int", int)]
    assert ints and sorted(set(ints) - set(RANGES)) == []
