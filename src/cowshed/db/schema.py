"""Every table in one place. Changes here need an Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

#: characters of a property value that its index holds (PostgreSQL cannot index a whole one).
VALUE_PREFIX = 255


def value_prefix(column: sa.Column[str]) -> sa.ColumnElement[str]:
    """``substr(value, 1, 255)``, literally: SQLite uses an expression index only for the same
    expression with the same literals (a bound parameter is not the same)."""
    return sa.func.substr(column, sa.literal_column("1"), sa.literal_column(str(VALUE_PREFIX)))


def value_rest(column: sa.Column[str]) -> sa.ColumnElement[str]:
    """``substr(value, 256)``: what the index does not hold. A filter compares the prefix and
    this rest, never ``value = ?`` itself: SQLite would propagate that constant into the prefix
    expression, which then no longer matches the index (it seeks on the name alone)."""
    return sa.func.substr(column, sa.literal_column(str(VALUE_PREFIX + 1)))


def null_first(column: sa.Column[Any], null: str) -> sa.ColumnElement[Any]:
    """``coalesce(column, <null>)`` with ``null`` an SQL literal (``''`` or ``-1``): a sort key
    that puts NULL first ascending on both databases, and that an expression index can match."""
    return sa.func.coalesce(column, sa.literal_column(null))

images = sa.Table(
    "images", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("os_hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("checksum", sa.String(32), nullable=True, index=True),
    sa.Column("os_hash_algo", sa.String(64), nullable=True),
    sa.Column("os_hash_value", sa.String(128), nullable=True, index=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("virtual_size", sa.BigInteger, nullable=True),
    sa.Column("min_ram", sa.Integer, nullable=False, default=0),
    sa.Column("min_disk", sa.Integer, nullable=False, default=0),
    sa.Column("disk_format", sa.String(20), nullable=True),
    sa.Column("container_format", sa.String(20), nullable=True),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

#: image list indexes (migrations 0010, 0011); expressions as db/images.py queries with them.
sa.Index("ix_images_name", images.c.name)
sa.Index("ix_images_status_created", images.c.status, images.c.created_at, images.c.id)
sa.Index("ix_images_visibility_created", images.c.visibility, images.c.created_at, images.c.id)
sa.Index("ix_images_owner_created", images.c.owner, images.c.created_at, images.c.id)
sa.Index("ix_images_name_sort", null_first(images.c.name, "''"), images.c.id)
sa.Index("ix_images_size_sort", null_first(images.c.size, "-1"), images.c.id)
sa.Index("ix_images_updated_at_id", images.c.updated_at, images.c.id)

image_properties = sa.Table(
    "image_properties", metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

sa.Index("ix_image_properties_name_value", image_properties.c.name,
         value_prefix(image_properties.c.value))

image_tags = sa.Table(
    "image_tags", metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("value", sa.String(255), primary_key=True),
)

sa.Index("ix_image_tags_value", image_tags.c.value)

image_locations = sa.Table(
    "image_locations", metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("store", sa.String(255), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

image_members = sa.Table(
    "image_members", metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("member_id", sa.String(255), primary_key=True, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("image_id", sa.String(36), nullable=True, index=True),
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
)

# -- volume types created over the API (configured ones live in the settings) and quotas ----

volume_types = sa.Table(
    "volume_types", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("is_public", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

volume_type_specs = sa.Table(
    "volume_type_specs", metadata,
    sa.Column("type_id", sa.String(36), sa.ForeignKey("volume_types.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

volume_type_projects = sa.Table(
    "volume_type_projects", metadata,
    sa.Column("type_id", sa.String(36), sa.ForeignKey("volume_types.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("project_id", sa.String(255), primary_key=True),
)

#: quota limits set over the API: ``scope`` "project" (``owner`` a project id) or "class"
#: (``owner`` a quota class name; ``default`` is every project's default).
volume_quota_limits = sa.Table(
    "volume_quota_limits", metadata,
    sa.Column("scope", sa.String(10), primary_key=True),
    sa.Column("owner", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(300), primary_key=True),
    sa.Column("hard_limit", sa.BigInteger, nullable=False),
)

# --- metadata definitions (/v2/metadefs) -------------------------------------------------------

metadef_namespaces = sa.Table(
    "metadef_namespaces", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(80), nullable=False, unique=True),
    sa.Column("display_name", sa.String(80), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

metadef_resource_types = sa.Table(
    "metadef_resource_types", metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("protected", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

metadef_associations = sa.Table(
    "metadef_associations", metadata,
    sa.Column("namespace_id", sa.Integer,
              sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("resource_type", sa.String(80), sa.ForeignKey("metadef_resource_types.name"),
              primary_key=True),
    sa.Column("prefix", sa.String(80), nullable=True),
    sa.Column("properties_target", sa.String(80), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

#: objects, property definitions and tags of a namespace: one row each, the body as JSON.
metadef_items = sa.Table(
    "metadef_items", metadata,
    sa.Column("namespace_id", sa.Integer,
              sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# -- volumes (issue 19) ---------------------------------------------------------------------------

volumes = sa.Table(
    "volumes", metadata,
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
    # the backend snapshot this volume is a copy-on-write child of (all null: independent)
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
    # the process running this volume's transient operation, and its lease
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime, nullable=True),
)

volume_metadata = sa.Table(
    "volume_metadata", metadata,
    sa.Column("volume_id", sa.String(36), sa.ForeignKey("volumes.id", ondelete="CASCADE"),
              primary_key=True),
    # "user" (metadata) or "image" (volume_image_metadata)
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

volume_snapshots = sa.Table(
    "volume_snapshots", metadata,
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

snapshot_metadata = sa.Table(
    "snapshot_metadata", metadata,
    sa.Column("snapshot_id", sa.String(36),
              sa.ForeignKey("volume_snapshots.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# internal backend snapshots taken to clone a volume (shared by its clones while it is unchanged)
clone_snaps = sa.Table(
    "clone_snaps", metadata,
    sa.Column("volume_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

volume_attachments = sa.Table(
    "volume_attachments", metadata,
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

# -- standalone identity (services/identity) ---------------------------------------------------

identity_projects = sa.Table(
    "identity_projects", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("domain_id", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("domain_id", "name", name="uq_identity_projects_name"),
)

identity_users = sa.Table(
    "identity_users", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("domain_id", sa.String(64), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("default_project_id", sa.String(64), nullable=True),
    sa.Column("email", sa.String(255), nullable=True),
    sa.Column("tokens_valid_after", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("domain_id", "name", name="uq_identity_users_name"),
)

identity_roles = sa.Table(
    "identity_roles", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
)

identity_assignments = sa.Table(
    "identity_assignments", metadata,
    sa.Column("user_id", sa.String(64), sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              primary_key=True),
    # "project:<id>" or "domain:<id>": one key column keeps the primary key simple
    sa.Column("target", sa.String(80), primary_key=True),
    sa.Column("role_id", sa.String(64), sa.ForeignKey("identity_roles.id", ondelete="CASCADE"),
              primary_key=True),
)

identity_revoked_tokens = sa.Table(
    "identity_revoked_tokens", metadata,
    sa.Column("audit_id", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

#: per-project image quota limits (defaults are settings): resource names as in domain/quotas.
image_quota_limits = sa.Table(
    "image_quota_limits", metadata,
    sa.Column("project_id", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("hard_limit", sa.BigInteger, nullable=False),
)

volume_qos_specs = sa.Table(
    "volume_qos_specs", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("consumer", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

volume_qos_keys = sa.Table(
    "volume_qos_keys", metadata,
    sa.Column("qos_id", sa.String(36), sa.ForeignKey("volume_qos_specs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

#: which QoS specs a volume type (configured or API-created, by id) is associated with.
volume_type_qos = sa.Table(
    "volume_type_qos", metadata,
    sa.Column("type_id", sa.String(36), primary_key=True),
    sa.Column("qos_id", sa.String(36), sa.ForeignKey("volume_qos_specs.id", ondelete="CASCADE"),
              nullable=False, index=True),
)

volume_transfers = sa.Table(
    "volume_transfers", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("volume_id", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("crypt_hash", sa.String(64), nullable=False),
    sa.Column("source_project_id", sa.String(255), nullable=False, index=True),
    sa.Column("with_snapshots", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

#: every live process of a deployment (services/ownership.py): who it is and its heartbeat.
owners = sa.Table(
    "owners", metadata,
    sa.Column("id", sa.String(255), primary_key=True),  # host:pid:token
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    #: the process's start time in clock ticks since boot (/proc/PID/stat): a reused pid
    #: never passes for the owner.
    sa.Column("proc_start", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False, index=True),
)

#: work in progress and who does it: ``image:<id>`` (an upload, stage, import or delete),
#: ``task:<id>`` (an import task). No foreign key to owners: a lease outlives its dead owner's
#: row until a sweep has reconciled what it held.
leases = sa.Table(
    "leases", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("resource", sa.String(255), nullable=False, index=True),
    sa.Column("owner_id", sa.String(255), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
