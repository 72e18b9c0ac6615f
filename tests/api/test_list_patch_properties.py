"""Property tests through the real app and database: PATCH applied, pages walked, ranges read.

- PATCH: a random patch document either succeeds and leaves exactly what a model of Glance's
  rules predicts, or fails with a 4xx and changes nothing (the request is atomic).
- Lists: for any sort (keys, directions) and page size, following ``next`` links visits every
  listed image exactly once, in the order of one big page.
- Ranges: any single range over a small image answers what a Python slice predicts (206), or
  416 with ``Content-Range: bytes */size``.

One app (and data dir) per module; every hypothesis example runs against it. Settings are
pinned (derandomized, no example database), sized for CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cowshed.api.app import create_app
from cowshed.api.image.query import API_SORT_KEYS
from cowshed.config import load_settings
from tests.api.helpers import (
    OCTET,
    PATCH20,
    PATCH21,
    TestClient,
    authenticate,
    fresh_database_url,
    with_test_auth,
)

CI = settings(derandomize=True, database=None, deadline=None, max_examples=60,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROPS = ["p_one", "p_two", "hw_disk_bus"]
BASE_READ_ONLY = ["status", "size", "checksum", "os_glance_x", "id", "locations"]
DATA = os.urandom(700)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, migrated_db: Path | None) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("props") / "data"
    data_dir.mkdir()
    if migrated_db is None:
        environ = {"COWSHED_DATABASE_URL": fresh_database_url()}
    else:
        shutil.copyfile(migrated_db, data_dir / "cowshed.db")
        environ = {}
    app_settings = with_test_auth(load_settings(data_dir=data_dir, environ=environ))
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        yield authenticate(client)


def _create(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare",
                                           **body})
    assert resp.status_code == 201, resp.text
    record: dict[str, Any] = resp.json()
    return record


# -- PATCH ---------------------------------------------------------------------------------

values = st.one_of(st.text(max_size=6), st.integers(-2, 3), st.booleans(), st.none(),
                   st.lists(st.text(max_size=4), max_size=2))
operations = st.tuples(st.sampled_from(["add", "remove", "replace"]),
                       # half the operations touch custom properties, which the model predicts
                       st.sampled_from(PROPS) | st.sampled_from(["name", "min_ram", "tags",
                                                                 "os_hidden", *BASE_READ_ONLY]),
                       values)


def _model(start: dict[str, str], ops: list[tuple[str, str, Any]], legacy: bool
           ) -> dict[str, str] | None:
    """Custom properties after ``ops`` under Glance's rules, or None if the patch must fail.
    Only called for patches that touch custom properties alone."""
    props = dict(start)
    for op, name, value in ops:
        if op == "remove":
            if name not in props:
                return None
            del props[name]
            continue
        if not isinstance(value, str) or (op == "replace" and name not in props) or (
                op == "add" and legacy and name in props):
            return None
        props[name] = value
    return props


def _document(ops: list[tuple[str, str, Any]], legacy: bool) -> list[dict[str, Any]]:
    doc = []
    for op, name, value in ops:
        raw: dict[str, Any] = {op: f"/{name}"} if legacy else {"op": op, "path": f"/{name}"}
        if op != "remove":
            raw["value"] = value
        doc.append(raw)
    return doc


@CI
@given(ops=st.lists(operations, min_size=1, max_size=4), legacy=st.booleans(),
       start=st.dictionaries(st.sampled_from(PROPS), st.text(max_size=4), max_size=2))
def test_patch_applies_all_or_nothing(app: TestClient, ops: list[tuple[str, str, Any]],
                                      legacy: bool, start: dict[str, str]) -> None:
    image = _create(app, **start)
    resp = app.patch(f"/v2/images/{image['id']}", json=_document(ops, legacy),
                     headers={"Content-Type": PATCH20 if legacy else PATCH21})
    after = app.get(f"/v2/images/{image['id']}").json()
    assert resp.status_code in (200, 400, 403, 409), resp.text
    if resp.status_code != 200:
        assert after == image, "a refused PATCH changed the image"
    else:
        assert resp.json() == after
        for field in ("id", "status", "size", "checksum", "created_at", "owner"):
            assert after[field] == image[field]
    if all(name in PROPS for _, name, _ in ops):
        expected = _model(start, ops, legacy)
        assert (resp.status_code == 200) == (expected is not None), (ops, resp.text)
        if expected is not None:
            assert {k: after[k] for k in PROPS if k in after} == expected
    if any(name in BASE_READ_ONLY for _, name, _ in ops):
        assert resp.status_code in (400, 403, 409)


# -- pages and markers ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def listed(app: TestClient) -> list[str]:
    """Fourteen images with repeated names, formats and sizes (ties decided by the marker
    logic), some with data; returns their ids."""
    ids = []
    for n in range(14):
        image = _create(app, name=f"img-{n % 4}", disk_format=["raw", "qcow2", "raw"][n % 3],
                        container_format="bare", tag_marker="pages")
        if n % 3 != 1:  # the qcow2 ones stay queued (size null)
            body = DATA[: 50 * (n % 5)] if n % 3 == 0 else b"\0" * 100
            resp = app.put(f"/v2/images/{image['id']}/file", content=body, headers=OCTET)
            assert resp.status_code == 204, resp.text
        ids.append(image["id"])
    return ids


@CI
@given(sort=st.lists(st.tuples(st.sampled_from(API_SORT_KEYS), st.sampled_from(["asc", "desc"])),
                     max_size=3, unique_by=lambda kd: kd[0]),
       limit=st.integers(1, 6), classic=st.booleans())
def test_pages_visit_every_image_once(app: TestClient, listed: list[str],
                                      sort: list[tuple[str, str]], limit: int, classic: bool
                                      ) -> None:
    params: list[tuple[str, str]] = [("tag_marker", "pages")]
    if sort and classic:
        params += [("sort_key", k) for k, _ in sort] + [("sort_dir", d) for _, d in sort]
    elif sort:
        params.append(("sort", ",".join(f"{k}:{d}" for k, d in sort)))
    whole = app.get("/v2/images", params=[*params, ("limit", "100")])
    assert whole.status_code == 200, whole.text
    expected = [i["id"] for i in whole.json()["images"]]
    assert sorted(expected) == sorted(listed)
    seen: list[str] = []
    url: str | None = "/v2/images"
    query: list[tuple[str, str]] | None = [*params, ("limit", str(limit))]
    while url is not None:
        resp = app.get(url, params=query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        page = [i["id"] for i in body["images"]]
        assert len(page) <= limit
        seen += page
        url, query = body.get("next"), None
        assert len(seen) <= len(listed), "pages repeat images"
    assert seen == expected


# -- ranges --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ranged(app: TestClient) -> str:
    image = _create(app, name="ranged")
    resp = app.put(f"/v2/images/{image['id']}/file", content=DATA, headers=OCTET)
    assert resp.status_code == 204, resp.text
    return str(image["id"])


def _slice(first: int | None, last: int | None) -> tuple[int, int] | None:
    """(start, end-exclusive) RFC 9110 selects from DATA, None if unsatisfiable."""
    size = len(DATA)
    if first is None:  # suffix: the last ``last`` bytes
        return None if not last else (max(0, size - last), size)
    if first >= size or (last is not None and last < first):
        return None
    return first, size if last is None else min(last + 1, size)


@CI
@given(first=st.none() | st.integers(0, 800), last=st.none() | st.integers(0, 800))
def test_ranges_answer_what_a_slice_selects(app: TestClient, ranged: str, first: int | None,
                                            last: int | None) -> None:
    if first is None and last is None:
        resp = app.get(f"/v2/images/{ranged}/file")
        assert resp.status_code == 200 and resp.content == DATA
        return
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    resp = app.get(f"/v2/images/{ranged}/file", headers={"Range": header})
    selected = _slice(first, last)
    if selected is None:
        assert resp.status_code == 416, (header, resp.status_code)
        assert resp.headers["content-range"] == f"bytes */{len(DATA)}" or (
            first is not None and last is not None and last < first)
        return
    start, end = selected
    assert resp.status_code == 206, (header, resp.text[:200])
    assert resp.content == DATA[start:end]
    assert resp.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
