"""The repository facade services hold: one engine, one class per aggregate.

Each aggregate's SQL lives in its own module (``db/images.py``, ``db/tasks.py``); this class only
joins them so a service needs one handle. New aggregates (volumes…) get their own module and
repository class, held by the services that own them.
"""

from __future__ import annotations

import sqlalchemy as sa

from cowshed.db.images import ImageRepository
from cowshed.db.members import MemberRepository
from cowshed.db.metadefs import MetadefRepository
from cowshed.db.owners import OwnerRepository
from cowshed.db.quotas import QuotaRepository
from cowshed.db.tasks import TaskRepository
from cowshed.db.volume_snapshots import SnapshotRepository
from cowshed.db.volumes import VolumeRepository


class Repository(ImageRepository, MemberRepository, QuotaRepository, TaskRepository,
                 MetadefRepository, OwnerRepository):
    """Images, their members and quotas, tasks and metadata definitions over one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def ping(self) -> None:
        """One round trip to the database (the health check); raises if it cannot answer."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))


class VolumeRepositories(VolumeRepository, SnapshotRepository):
    """Volumes, snapshots, clone snapshots and attachments over one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
