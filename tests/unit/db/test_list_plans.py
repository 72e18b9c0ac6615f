"""Image lists at 10,000 images use indexes on SQLite and PostgreSQL, in a fixed number of
statements whatever the page size (no query per row for tags, properties or locations).

The images are written straight into the tables (one ``executemany`` per table), with the same
spread as ``bench/load.py`` seeds through the API; each list is built by the API's own query
parser, and the service's additions (deleted images hidden; a member's audience) are added as
``ImageService.list_images`` adds them. PostgreSQL is ANALYZEd first (autovacuum would be after
so many inserts); SQLite is left without statistics, as a deployment's database is.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.datastructures import QueryParams

from cowshed.api.image.query import parse_list_query
from cowshed.config import Settings
from cowshed.db.engine import create_engine
from cowshed.db.explain import captured, plan
from cowshed.db.images import ImageRepository
from cowshed.db.schema import image_locations, image_properties, image_tags, images
from cowshed.domain.query import Audience, Filter, ImageQuery

N = 10_000
TABLES = frozenset({"images", "image_tags", "image_properties", "image_locations"})
#: the list queries of bench/load.py (its LIST_QUERIES), ``{marker}`` an id deep in the order.
QUERIES = (
    "", "status=queued", "visibility=public", "name=image-0042", "owner=project-07", "tag=t7",
    "tag=common", "os_distro=debian", "build=4242", "sort=name:asc", "sort=size:desc",
    "sort_key=updated_at&sort_dir=asc", "marker={marker}", "sort=size:asc&marker={marker}",
    "sort=name:asc&marker={marker}", "limit=200", "tag=t7&os_distro=suse&status=active",
)


Rows = list[dict[str, object]]


def _rows() -> tuple[Rows, Rows, Rows, Rows]:
    start = datetime.datetime(2026, 1, 1)
    distros = ("ubuntu", "debian", "fedora", "centos", "rocky", "alma", "arch", "suse")
    base: Rows = []
    tags: Rows = []
    props: Rows = []
    locs: Rows = []
    for i in range(N):
        image_id = str(uuid.UUID(int=i + 1))
        at = start + datetime.timedelta(seconds=i)
        vis = ("public", "community", "shared")[i % 20] if i % 20 < 3 else "private"
        base.append({
            "id": image_id, "name": f"image-{i % 2000:04d}",
            "status": "queued" if i % 10 == 0 else "active", "visibility": vis,
            "protected": False, "os_hidden": False, "min_ram": 0, "min_disk": i % 40,
            "disk_format": "raw", "container_format": "bare", "owner": f"project-{i % 50:02d}",
            "size": None if i % 10 == 0 else i, "created_at": at, "updated_at": at})
        if i % 10:  # active images have their data somewhere
            locs.append({"image_id": image_id, "store": "file", "created_at": at,
                         "url": f"file:///var/lib/cowshed/images/{image_id}"})
        tags.append({"image_id": image_id, "value": f"t{i % 100}"})
        if i % 2 == 0:
            tags.append({"image_id": image_id, "value": "common"})
        props.append({"image_id": image_id, "name": "os_distro", "value": distros[i % 8]})
        props.append({"image_id": image_id, "name": "build", "value": str(i)})
    return base, tags, props, locs


def _seeded(url: str) -> sa.Engine:
    engine = create_engine(url)
    base, tags, props, locs = _rows()
    with engine.begin() as conn:
        conn.execute(images.insert(), base)
        conn.execute(image_tags.insert(), tags)
        conn.execute(image_properties.insert(), props)
        conn.execute(image_locations.insert(), locs)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    return engine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'cowshed.db'}"
    else:
        url = _fresh_database(request.getfixturevalue("postgres_url"))
    engine = _seeded(url)
    yield engine
    engine.dispose()


def _fresh_database(server: str) -> str:
    name = f"plans_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False)


def _query(text: str, audience: Audience | None = None) -> ImageQuery:
    """What GET /v2/images?<text> asks the repository, as the image service builds it."""
    if "{marker}" in text:
        text = text.replace("{marker}", str(uuid.UUID(int=N // 2)))
    query = parse_list_query(QueryParams(text), Settings(data_dir=Path("unused")))
    return replace(query, filters=(*query.filters, Filter("status", "neq", "deleted")),
                   audience=audience)


@pytest.mark.parametrize("text", QUERIES)
def test_list_uses_indexes(engine: sa.Engine, text: str) -> None:
    repo = ImageRepository(engine)
    with captured(engine) as statements:
        found = repo.list_images(_query(text))
    assert found, text
    for statement in statements:
        shown = plan(engine, statement)
        assert not shown.full_scans(TABLES), (text, shown.sql, shown.lines)


@pytest.mark.parametrize("text", ["build=4242", "os_distro=debian&tag=t7"])
def test_property_filter_seeks_name_and_value(engine: sa.Engine, text: str) -> None:
    """The property index is sought on both its columns, not on the name alone (which would
    read one row per image for a property every image has)."""
    with captured(engine) as statements:
        ImageRepository(engine).list_images(_query(text))
    shown = "\n".join(plan(engine, statements[0]).lines)
    if engine.dialect.name == "sqlite":
        assert "ix_image_properties_name_value (name=? AND <expr>=?)" in shown, shown
    else:
        assert "ix_image_properties_name_value" in shown and "substr(value, 1, 255)" in shown, shown


@pytest.mark.parametrize("text", ["status=active", "visibility=public", "owner=project-07",
                                  "status=active&marker={marker}"])
def test_filtered_default_order_reads_the_page_from_the_index(engine: sa.Engine,
                                                              text: str) -> None:
    """status, visibility and owner filters in the default order: no sort of every match (9,000
    for status=active) but a walk of (column, created_at, id)."""
    with captured(engine) as statements:
        ImageRepository(engine).list_images(_query(text))
    page = next(s for s in statements if "ORDER BY" in s.sql)
    lines = plan(engine, page).lines
    shown = "\n".join(lines)
    if engine.dialect.name == "sqlite":
        assert "_created" in shown and "TEMP B-TREE" not in shown, shown
    else:  # an index walk in order (maybe created_at's, filtering), never a Sort of the matches
        assert not any(re.match(r"\s*(->\s+)?Sort\s+\(", line) for line in lines), shown


def test_member_list_uses_indexes(engine: sa.Engine) -> None:
    """A project member's list: public, own, shared-with-me (accepted) images."""
    repo = ImageRepository(engine)
    for text in ("", "visibility=shared", "tag=t7"):
        with captured(engine) as statements:
            repo.list_images(_query(text, Audience("project-07")))
        for statement in statements:
            shown = plan(engine, statement)
            assert not shown.full_scans(TABLES), (text, shown.sql, shown.lines)


@pytest.mark.parametrize("limit", [1, 25, 1000])
def test_statements_per_list_do_not_grow_with_the_page(engine: sa.Engine, limit: int) -> None:
    """One statement for the page, one each for properties, tags and locations of all its
    rows, one more to find a marker: never one per image."""
    repo = ImageRepository(engine)
    with captured(engine) as statements:
        found = repo.list_images(_query(f"limit={limit}&marker={{marker}}"))
    assert len(found) == limit
    assert all(image.tags and image.properties for image in found)
    assert len(statements) == 5, [s.sql for s in statements]


def test_long_property_values_are_stored_and_found(engine: sa.Engine) -> None:
    """The property index holds a value's first 255 characters: a 60,000-character value (far
    beyond what a PostgreSQL B-tree entry holds) is stored, and found by its whole value only."""
    repo = ImageRepository(engine)
    long_value = "x" * 60_000
    image_id = str(uuid.uuid4())
    now = datetime.datetime(2027, 1, 1)
    with engine.begin() as conn:
        conn.execute(images.insert().values(
            id=image_id, name="long", status="queued", visibility="private", protected=False,
            os_hidden=False, min_ram=0, min_disk=0, created_at=now, updated_at=now))
        conn.execute(image_properties.insert().values(image_id=image_id, name="blob",
                                                      value=long_value))
    try:
        assert [i.id for i in repo.list_images(_query(f"blob={long_value}"))] == [image_id]
        assert repo.list_images(_query(f"blob={long_value[:-1]}y")) == []
        assert repo.list_images(_query(f"blob={long_value[:255]}")) == []
    finally:
        with engine.begin() as conn:
            conn.execute(images.delete().where(images.c.id == image_id))
