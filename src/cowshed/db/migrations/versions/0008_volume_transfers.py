"""Volume transfers: offers of a volume to another project, keyed by a hashed auth key.

Revision ID: 0008_volume_transfers
Revises: 0007_volume_qos
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_volume_transfers"
down_revision = "0007_volume_qos"


def upgrade() -> None:
    op.create_table(
        "volume_transfers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("volume_id", sa.String(36), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("crypt_hash", sa.String(64), nullable=False),
        sa.Column("source_project_id", sa.String(255), nullable=False, index=True),
        sa.Column("with_snapshots", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("volume_transfers")
