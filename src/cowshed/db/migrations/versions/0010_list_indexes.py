"""Indexes for image lists at scale (10,000 images and more): name filters; name, size and
updated_at sorts; tag and property filters; found missing by ``EXPLAIN``
(tests/unit/db/test_list_plans.py).

Three are on expressions, written exactly as ``db/images.py`` writes them (SQLite matches an
expression index only to the same expression, with literals, not bound parameters):
``coalesce(name, '')`` and ``coalesce(size, -1)`` are how a sort puts NULL first on both
databases, and a property is looked up by ``substr(value, 1, 255)`` because PostgreSQL cannot
index a whole value (up to 65,535 characters; a B-tree entry holds at most ~2,700 bytes).

Revision ID: 0010_list_indexes
Revises: 0009_owners
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_list_indexes"
down_revision = "0009_owners"


def upgrade() -> None:
    op.create_index("ix_images_name", "images", ["name"])
    op.create_index("ix_images_name_sort", "images", [sa.text("coalesce(name, '')"), "id"])
    op.create_index("ix_images_size_sort", "images", [sa.text("coalesce(size, -1)"), "id"])
    op.create_index("ix_images_updated_at_id", "images", ["updated_at", "id"])
    op.create_index("ix_image_tags_value", "image_tags", ["value"])
    op.create_index("ix_image_properties_name_value", "image_properties",
                    ["name", sa.text("substr(value, 1, 255)")])


def downgrade() -> None:
    op.drop_index("ix_image_properties_name_value", "image_properties")
    op.drop_index("ix_image_tags_value", "image_tags")
    op.drop_index("ix_images_updated_at_id", "images")
    op.drop_index("ix_images_size_sort", "images")
    op.drop_index("ix_images_name_sort", "images")
    op.drop_index("ix_images_name", "images")
