"""``bench/load.py --explain``: the database's plan for each list query of the bench, run through
the image repository on the database the bench seeded (as an admin lists: deleted images hidden).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from starlette.datastructures import QueryParams

from cowshed.api.image.query import parse_list_query
from cowshed.config import Settings
from cowshed.db.explain import captured, plan
from cowshed.db.images import ImageRepository
from cowshed.domain.query import Filter

TABLES = frozenset({"images", "image_tags", "image_properties", "image_locations"})


def print_plans(url: str, queries: list[str]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    repo = ImageRepository(engine)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM images")).scalar_one()
        marker = str(conn.execute(sa.text("SELECT id FROM images ORDER BY id LIMIT 1 OFFSET :n"),
                                  {"n": count // 2}).scalar_one())
    print(f"\n### plans ({engine.dialect.name})")
    for text in queries:
        query = parse_list_query(QueryParams(text.replace("{marker}", marker)),
                                 Settings(data_dir=Path("unused")))
        query = replace(query, filters=(*query.filters, Filter("status", "neq", "deleted")))
        with captured(engine) as statements:
            repo.list_images(query)
        # the page itself: the one ordered statement on images (a marker's lookup is not
        # ordered; properties, tags and locations follow on their own tables)
        page = plan(engine, next(s for s in statements
                                 if re.search(r"FROM images\b", s.sql) and "ORDER BY" in s.sql))
        scans = page.full_scans(TABLES)
        print(f"- {text or '(default)'}: {'FULL SCAN ' + str(scans) if scans else 'indexed'}")
        for line in page.lines:
            print(f"      {line}")
    engine.dispose()
