"""Volume QoS specs, their keys, and the volume types they are associated with.

Revision ID: 0007_volume_qos
Revises: 0006_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_volume_qos"
down_revision = "0006_identity"


def upgrade() -> None:
    op.create_table(
        "volume_qos_specs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("consumer", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "volume_qos_keys",
        sa.Column("qos_id", sa.String(36),
                  sa.ForeignKey("volume_qos_specs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_table(
        "volume_type_qos",
        sa.Column("type_id", sa.String(36), primary_key=True),
        sa.Column("qos_id", sa.String(36),
                  sa.ForeignKey("volume_qos_specs.id", ondelete="CASCADE"), nullable=False,
                  index=True),
    )


def downgrade() -> None:
    for table in ("volume_type_qos", "volume_qos_keys", "volume_qos_specs"):
        op.drop_table(table)
