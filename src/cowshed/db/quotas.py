"""SQL for image quotas: per-project limits and what a project uses."""

from __future__ import annotations

import sqlalchemy as sa

from cowshed.db.schema import image_quota_limits, images
from cowshed.domain.images import ImageStatus

_UPLOADING = [str(s) for s in (ImageStatus.SAVING, ImageStatus.UPLOADING, ImageStatus.IMPORTING)]


class QuotaRepository:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def quota_limits(self, project_id: str) -> dict[str, int]:
        """The limits set for ``project_id`` (resources not set use the defaults)."""
        t = image_quota_limits
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.resource, t.c.hard_limit).where(
                t.c.project_id == project_id))
            return {r.resource: r.hard_limit for r in rows}

    def set_quota_limit(self, project_id: str, resource: str, limit: int | None) -> None:
        """Set (None: drop, back to the default) one limit of a project."""
        t = image_quota_limits
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.project_id == project_id, t.c.resource == resource))
            if limit is not None:
                conn.execute(t.insert().values(project_id=project_id, resource=resource,
                                               hard_limit=limit))

    def owned_counts(self, project_id: str) -> tuple[int, int, int]:
        """(images, their bytes, images being uploaded or imported) owned by ``project_id``;
        deleted (being deleted) images do not count."""
        query = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(images.c.size), 0),
            sa.func.count().filter(images.c.status.in_(_UPLOADING)),
        ).where(images.c.owner == project_id, images.c.status != str(ImageStatus.DELETED))
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return int(row[0]), int(row[1]), int(row[2])

    def staged_ids(self, project_id: str) -> list[str]:
        """Images of ``project_id`` that may hold staged data (uploading or importing)."""
        query = sa.select(images.c.id).where(
            images.c.owner == project_id,
            images.c.status.in_([str(ImageStatus.UPLOADING), str(ImageStatus.IMPORTING)]))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())
