"""One access-log line per request: method, path, status, bytes, seconds, request id."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
from starlette.testclient import TestClient

from cowshed.api.app import create_app
from cowshed.config import Settings
from tests.api.conftest import CreateImage

LINE = re.compile(r'^(?P<host>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}|-) '
                  r"in=(?P<received>\d+) out=(?P<sent>\d+) (?P<seconds>\d+\.\d{3})s "
                  r"(?P<rid>\S+)$")


def access_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "cowshed.access"]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m is not None]


def test_each_request_is_one_line(client: TestClient, create_image: CreateImage,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cowshed.access")
    image = create_image(name="logged")
    data = b"x" * 12345
    put = client.put(f"/v2/images/{image['id']}/file?ignored=query", content=data,
                     headers={"Content-Type": "application/octet-stream"})
    got = client.get(f"/v2/images/{image['id']}/file")
    missing = client.get("/v2/images/00000000-0000-0000-0000-000000000000")
    lines = access_lines(caplog)
    assert [(m["method"], m["path"], m["status"]) for m in lines] == [
        ("POST", "/v2/images", "201"),
        ("PUT", f"/v2/images/{image['id']}/file", "204"),
        ("GET", f"/v2/images/{image['id']}/file", "200"),
        ("GET", "/v2/images/00000000-0000-0000-0000-000000000000", "404"),
    ]
    assert (int(lines[1]["received"]), int(lines[1]["sent"])) == (len(data), 0)
    assert int(lines[2]["sent"]) == len(data) == len(got.content)
    for match, resp in zip(lines[1:], (put, got, missing), strict=True):
        assert match["rid"] == resp.headers["x-openstack-request-id"]
        assert match["rid"].startswith("req-")


def test_off_with_the_setting(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cowshed.access")
    quiet = dataclasses.replace(settings, access_log=False)
    with TestClient(create_app(quiet)) as client:
        assert client.get("/v2/images").status_code == 200
    assert [r for r in caplog.records if r.name == "cowshed.access"] == []
