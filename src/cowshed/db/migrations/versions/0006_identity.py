"""Standalone identity (projects, users, roles, role assignments, revoked tokens) and
per-project image quota limits.

Revision ID: 0006_identity
Revises: 0005_volumes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_identity"
down_revision = "0005_volumes"


def upgrade() -> None:
    op.create_table(
        "identity_projects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_projects_name"),
    )
    op.create_table(
        "identity_users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain_id", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("default_project_id", sa.String(64)),
        sa.Column("email", sa.String(255)),
        sa.Column("tokens_valid_after", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_users_name"),
    )
    op.create_table(
        "identity_roles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.create_table(
        "identity_assignments",
        sa.Column("user_id", sa.String(64),
                  sa.ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("target", sa.String(80), primary_key=True),
        sa.Column("role_id", sa.String(64),
                  sa.ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "image_quota_limits",
        sa.Column("project_id", sa.String(255), primary_key=True),
        sa.Column("resource", sa.String(64), primary_key=True),
        sa.Column("hard_limit", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "identity_revoked_tokens",
        sa.Column("audit_id", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
    )


def downgrade() -> None:
    for table in ("image_quota_limits", "identity_revoked_tokens", "identity_assignments", "identity_roles",
                  "identity_users", "identity_projects"):
        op.drop_table(table)
