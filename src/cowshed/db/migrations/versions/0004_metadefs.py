"""Metadata definitions: namespaces, resource types, associations, items; built-ins seeded.

The five resource types people filter on are created, and the namespaces shipped in
``cowshed/db/metadefs_builtin`` are loaded once, here (an admin may delete them later and they
stay deleted).

Revision ID: 0004_metadefs
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cowshed.db.metadefs import BUILTIN_RESOURCE_TYPES, ensure_resource_type, seed_builtins

revision = "0004_metadefs"
down_revision = "0003"


def _ns_fk() -> sa.Column[int]:
    return sa.Column("namespace_id", sa.Integer,
                     sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(80), nullable=False, unique=True),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.Text),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "metadef_resource_types",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "metadef_associations",
        _ns_fk(),
        sa.Column("resource_type", sa.String(80), sa.ForeignKey("metadef_resource_types.name"),
                  primary_key=True),
        sa.Column("prefix", sa.String(80)),
        sa.Column("properties_target", sa.String(80)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "metadef_items",
        _ns_fk(),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    conn = op.get_bind()
    for name in BUILTIN_RESOURCE_TYPES:
        ensure_resource_type(conn, name, protected=True)
    seed_builtins(conn)


def downgrade() -> None:
    for table in ("metadef_items", "metadef_associations", "metadef_resource_types",
                  "metadef_namespaces"):
        op.drop_table(table)
