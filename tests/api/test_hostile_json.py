"""JSON bodies (red-team finding): 8 clients sending 1 MiB PATCH bodies pushed /versions to
2.3 s, because decoding and validating ran on the event loop. Both now run in worker threads,
and a body over 1 MiB is refused (413). Raw-socket and header-limit tests are in
tests/integration/test_hostile_http.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from cowshed.api import common
from cowshed.api.image import images as images_api
from tests.api.conftest import CreateImage
from tests.api.helpers import PATCH21, TestClient, json_error


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_json_is_decoded_and_validated_off_the_event_loop(
    client: TestClient, create_image: CreateImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = create_image()["id"]
    seen: list[tuple[str, bool]] = []
    decode, parse = common.decode_json, images_api.parse_patch

    def spy_decode(body: bytes) -> Any:
        seen.append(("decode", _on_event_loop()))
        return decode(body)

    def spy_parse(body: object, legacy: bool) -> Any:
        seen.append(("validate", _on_event_loop()))
        return parse(body, legacy)

    monkeypatch.setattr(common, "decode_json", spy_decode)
    monkeypatch.setattr(images_api, "parse_patch", spy_parse)
    # ~1 MiB of operations, as the red-team sent
    ops = [{"op": "add", "path": f"/p{i % 100}", "value": "v" * 9000} for i in range(110)]
    body = json.dumps(ops).encode()
    assert 900_000 < len(body) < 1 << 20
    r = client.patch(f"/v2/images/{image_id}", content=body,
                     headers={"Content-Type": PATCH21})
    assert r.status_code == 200, r.text[:300]
    assert seen == [("decode", False), ("validate", False)]


@pytest.mark.parametrize("announce", [True, False])
def test_a_json_body_over_1_mib_is_413(client: TestClient, create_image: CreateImage,
                                       announce: bool) -> None:
    image_id = create_image()["id"]
    body = json.dumps([{"op": "add", "path": "/big", "value": "v" * (1 << 20)}]).encode()

    def chunks() -> Any:  # no Content-Length: the limit must hold on the bytes themselves
        yield body[: 1 << 19]
        yield body[1 << 19 :]

    r = client.patch(f"/v2/images/{image_id}", content=body if announce else chunks(),
                     headers={"Content-Type": PATCH21})
    assert "larger than 1048576 bytes" in json_error(r, 413)
