"""``cowshed metadefs load DIR``: Glance-format metadef files into the catalog, then over HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cowshed.api.app import create_app
from cowshed.cli.main import main
from cowshed.config import load_settings
from tests.api.helpers import TestClient

#: a file as Glance ships them (etc/metadefs/*.json): a resource type cowshed does not know yet.
GLANCE_FILE: dict[str, Any] = {
    "namespace": "Test::Loaded",
    "display_name": "Loaded from a file",
    "description": "Written for this test.",
    "visibility": "public",
    "protected": True,
    "resource_type_associations": [
        {"name": "OS::Glance::Image", "prefix": "test_"},
        {"name": "OS::Trove::Instance"},
    ],
    "properties": {"speed": {"title": "Speed", "type": "integer", "minimum": 1}},
    "objects": [{"name": "Pair", "required": ["a"],
                 "properties": {"a": {"title": "A", "type": "string"}}}],
    "tags": [{"name": "fast"}],
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("COWSHED_"):
            monkeypatch.delenv(key)


def _load(data_dir: Path, directory: Path, *extra: str) -> Any:
    result = CliRunner().invoke(main, ["metadefs", "load", str(directory), "--data-dir",
                                       str(data_dir), "-f", "json", *extra])
    return result


def _show(data_dir: Path, name: str) -> dict[str, Any]:
    settings = load_settings(data_dir=data_dir, environ={})
    with TestClient(create_app(settings)) as client:
        resp = client.get(f"/v2/metadefs/namespaces/{name}")
        assert resp.status_code == 200, resp.text
        record: dict[str, Any] = resp.json()
        return record


def test_load_skip_and_overwrite(tmp_path: Path) -> None:
    data_dir, files = tmp_path / "data", tmp_path / "files"
    files.mkdir()
    (files / "loaded.json").write_text(json.dumps(GLANCE_FILE))
    result = _load(data_dir, files)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"file": "loaded.json", "namespace": "Test::Loaded", "outcome": "loaded"}]
    shown = _show(data_dir, "Test::Loaded")
    assert shown["properties"]["speed"]["minimum"] == 1
    assert {a["name"] for a in shown["resource_type_associations"]} == {
        "OS::Glance::Image", "OS::Trove::Instance"}
    assert [o["name"] for o in shown["objects"]] == ["Pair"]
    assert [t["name"] for t in shown["tags"]] == ["fast"]

    changed = {**GLANCE_FILE, "description": "changed", "tags": []}
    (files / "loaded.json").write_text(json.dumps(changed))
    result = _load(data_dir, files)
    assert json.loads(result.output)[0]["outcome"] == "skipped"
    assert _show(data_dir, "Test::Loaded")["description"] == "Written for this test."
    result = _load(data_dir, files, "--overwrite")
    assert json.loads(result.output)[0]["outcome"] == "replaced"
    shown = _show(data_dir, "Test::Loaded")
    assert shown["description"] == "changed" and "tags" not in shown


def test_one_bad_file_loads_nothing(tmp_path: Path) -> None:
    data_dir, files = tmp_path / "data", tmp_path / "files"
    files.mkdir()
    (files / "a-good.json").write_text(json.dumps(GLANCE_FILE))
    (files / "b-bad.json").write_text(json.dumps({**GLANCE_FILE, "namespace": "B",
                                                   "properties": {"x": {"type": "string"}}}))
    result = _load(data_dir, files)
    assert result.exit_code == 1
    assert "b-bad.json" in result.output and "title" in result.output
    settings = load_settings(data_dir=data_dir, environ={})
    with TestClient(create_app(settings)) as client:
        assert client.get("/v2/metadefs/namespaces/Test::Loaded").status_code == 404
    (files / "b-bad.json").write_text("{not json")
    result = _load(data_dir, files)
    assert result.exit_code == 1 and "b-bad.json" in result.output


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    result = _load(tmp_path / "data", tmp_path)
    assert result.exit_code == 1 and "No *.json" in result.output
