"""Volumes: volumes with their metadata, snapshots, clone snapshots and attachments.

Revision ID: 0005_volumes
Revises: 0004_metadefs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_volumes"
down_revision = "0004_metadefs"


def upgrade() -> None:
    op.create_table(
        "volumes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False, index=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("status", sa.String(30), nullable=False, index=True),
        sa.Column("attach_status", sa.String(30), nullable=False),
        sa.Column("volume_type", sa.String(255), nullable=False),
        sa.Column("bootable", sa.Boolean, nullable=False),
        sa.Column("multiattach", sa.Boolean, nullable=False),
        sa.Column("readonly", sa.Boolean, nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("backend_key", sa.String(255), nullable=False),
        sa.Column("origin_kind", sa.String(20), nullable=False),
        sa.Column("origin_id", sa.String(36), nullable=True),
        sa.Column("parent_backend", sa.String(255), nullable=True),
        sa.Column("parent_key", sa.String(255), nullable=True),
        sa.Column("parent_snap", sa.String(255), nullable=True),
        sa.Column("parent_owner_kind", sa.String(20), nullable=True),
        sa.Column("parent_owner_id", sa.String(36), nullable=True, index=True),
        sa.Column("hidden", sa.Boolean, nullable=False, index=True),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("clone_snap", sa.String(255), nullable=True),
        sa.Column("previous_status", sa.String(30), nullable=True),
        sa.Column("launched_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "volume_metadata",
        sa.Column("volume_id", sa.String(36), sa.ForeignKey("volumes.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "volume_snapshots",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("volume_id", sa.String(36), nullable=False, index=True),
        sa.Column("project_id", sa.String(255), nullable=False, index=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("status", sa.String(30), nullable=False, index=True),
        sa.Column("backend_snap", sa.String(255), nullable=False),
        sa.Column("progress", sa.String(10), nullable=False),
        sa.Column("hidden", sa.Boolean, nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "snapshot_metadata",
        sa.Column("snapshot_id", sa.String(36),
                  sa.ForeignKey("volume_snapshots.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "clone_snaps",
        sa.Column("volume_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "volume_attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("volume_id", sa.String(36), sa.ForeignKey("volumes.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("instance_uuid", sa.String(36), nullable=True),
        sa.Column("attached_host", sa.String(255), nullable=True),
        sa.Column("mountpoint", sa.String(255), nullable=True),
        sa.Column("attach_mode", sa.String(4), nullable=False),
        sa.Column("connector", sa.Text, nullable=False),
        sa.Column("attach_time", sa.DateTime, nullable=True),
        sa.Column("detach_time", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("volume_attachments", "clone_snaps", "snapshot_metadata", "volume_snapshots",
                  "volume_metadata", "volumes"):
        op.drop_table(table)
