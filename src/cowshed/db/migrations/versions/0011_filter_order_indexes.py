"""Image list filters on status, visibility and owner in the default order (created_at desc,
id desc): the single-column indexes of 0001 become (column, created_at, id). Same seeks; and
the page is read straight from the index instead of sorting every match (SQLite, without
statistics, sorted all 9,000 active images of 10,000 for each page of ``status=active``).

Revision ID: 0011_filter_order_indexes
Revises: 0010_list_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0011_filter_order_indexes"
down_revision = "0010_list_indexes"

_FILTERED = ("status", "visibility", "owner")


def upgrade() -> None:
    for column in _FILTERED:
        op.drop_index(f"ix_images_{column}", "images")
        op.create_index(f"ix_images_{column}_created", "images", [column, "created_at", "id"])


def downgrade() -> None:
    for column in _FILTERED:
        op.drop_index(f"ix_images_{column}_created", "images")
        op.create_index(f"ix_images_{column}", "images", [column])
