"""Process owners with heartbeats, and the leases they hold on work in progress.

Revision ID: 0009_owners
Revises: 0008_volume_transfers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_owners"
down_revision = "0008_volume_transfers"


def upgrade() -> None:
    op.create_table(
        "owners",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("proc_start", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_owners_heartbeat_at", "owners", ["heartbeat_at"])
    op.create_table(
        "leases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_leases_resource", "leases", ["resource"])
    op.create_index("ix_leases_owner_id", "leases", ["owner_id"])


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("owners")
