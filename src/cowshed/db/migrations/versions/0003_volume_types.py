"""Volume types created over the API, their extra specs and project access; quota limits.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "volume_types",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("is_public", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "volume_type_specs",
        sa.Column("type_id", sa.String(36),
                  sa.ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_table(
        "volume_type_projects",
        sa.Column("type_id", sa.String(36),
                  sa.ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("project_id", sa.String(255), primary_key=True),
    )
    op.create_table(
        "volume_quota_limits",
        sa.Column("scope", sa.String(10), primary_key=True),
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("resource", sa.String(300), primary_key=True),
        sa.Column("hard_limit", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("volume_quota_limits", "volume_type_projects", "volume_type_specs",
                  "volume_types"):
        op.drop_table(table)
