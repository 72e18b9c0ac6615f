"""Short or disguised headers (red-team finding "disguised qcow2 accepted as raw").

Files under 512 bytes never complete oslo's header regions, so they used to count as raw: a
104-byte qcow2 v2 header naming ``/etc/passwd`` as its backing file became an active raw
image, which ``qemu-img info`` without ``-f`` then opens as a qcow2 with that backing file.
Every format qemu probes is tried here, on every way in (upload, stage, web-download), and
small raw data that only looks odd must still be accepted.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cowshed.config import Settings
from cowshed.formats.inspect import inspect_file
from tests.api._import_fixtures import Api, SourceServer, running_api
from tests.hostile_short import ShortCase, benign_short_cases, short_cases, write_cases


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("short-headers")
    write_cases(root, short_cases() + benign_short_cases())
    return root


@pytest.fixture(scope="module")
def source(corpus: Path) -> Iterator[SourceServer]:
    with SourceServer(corpus) as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, source: SourceServer) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("short-data"),
                        allowed_ports=(source.port,))
    with running_api(settings) as running:
        yield running


def _send(api: Api, source: SourceServer, way: str, case: ShortCase) -> tuple[int, str]:
    """(status, message) of getting ``case`` in by ``way``; for web-download the task's."""
    image_id = api.create(name=case.name, disk_format=case.declared,
                          container_format="bare")["id"]
    if way == "web-download":
        r = api.import_(image_id, {"method": {"name": "web-download",
                                              "uri": source.url(f"{case.name}.img")}})
        assert r.status_code == 202, r.text
        task = api.wait_task(image_id)
        status = 204 if task["status"] == "success" else 415
        return status, str(task["message"])
    r = api.upload(image_id, case.data) if way == "upload" else api.stage(image_id, case.data)
    return r.status_code, r.text


@pytest.mark.parametrize("way", ["upload", "stage", "web-download"])
def test_every_short_or_disguised_header_is_refused(api: Api, source: SourceServer,
                                                    way: str) -> None:
    wrong = {}
    for case in short_cases():
        status, message = _send(api, source, way, case)
        if status != 415 or "image refused" not in message:
            wrong[case.name] = f"{status} {message[:200]}"
    assert not wrong, wrong
    assert api.audit.calls == [], "qemu-img ran on a disguised header"


@pytest.mark.parametrize("way", ["upload", "stage"])
def test_small_raw_data_that_only_looks_odd_is_accepted(api: Api, source: SourceServer,
                                                        way: str) -> None:
    for case in benign_short_cases():
        status, message = _send(api, source, way, case)
        assert status == 204, (case.name, message)


def test_the_disguised_qcow2_really_is_a_qcow2_to_a_probing_tool(corpus: Path) -> None:
    """The control: without ``-f``, qemu-img opens these bytes as the format their signature
    names, backing file included. (qemu-img run directly: this is the hazard being shown.)"""
    for case in short_cases():
        if case.qemu_probes is None:
            continue
        out = subprocess.run(["qemu-img", "info", "--output=json", str(corpus / f"{case.name}.img")],
                             capture_output=True, text=True, check=True, timeout=60)
        info = json.loads(out.stdout)
        assert info["format"] == case.qemu_probes, case.name
        assert info.get("backing-filename") == "/etc/passwd", case.name


def test_inspect_file_refuses_short_headers_too(corpus: Path) -> None:
    """The conversion path re-inspects staged files with inspect_file: same verdicts."""
    from cowshed.errors import UnsafeImage

    for case in short_cases():
        with pytest.raises(UnsafeImage):
            inspect_file(corpus / f"{case.name}.img", case.declared)
    for case in benign_short_cases():
        assert inspect_file(corpus / f"{case.name}.img", "raw").detected_format == "raw"
