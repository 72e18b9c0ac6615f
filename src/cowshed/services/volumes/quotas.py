"""Volume quotas and Cinder's absolute limits, enforced on create, extend and snapshot: a
request over a limit is StorageFull (Cinder: 413). The limits in force come from
:mod:`quota_limits` (built-in defaults, the ``default`` class, the project's own)."""

from __future__ import annotations

from cowshed.db.repository import VolumeRepositories
from cowshed.domain.volumes import QuotaSet
from cowshed.errors import StorageFull
from cowshed.services.volumes.quota_limits import UNLIMITED, QuotaLimits


class Quotas:
    def __init__(self, db: VolumeRepositories, limits: QuotaLimits) -> None:
        self.db = db
        self.limits = limits

    def defaults(self) -> dict[str, int]:
        """Built-in defaults, then the ``default`` quota class set over the API."""
        return self.limits.class_limits()

    def limits_of(self, project_id: str) -> dict[str, int]:
        """The defaults with the project's own limits (set over the API) on top."""
        return self.limits.project_limits(project_id)

    def usage(self, project_id: str) -> dict[str, int]:
        volumes, volume_gb = self.db.volume_usage(project_id)
        snapshots, snapshot_gb = self.db.snapshot_usage(project_id)
        used = dict.fromkeys(self.limits_of(project_id), 0)
        # Cinder's gigabytes counts volumes and snapshots together
        used.update(volumes=volumes, gigabytes=volume_gb + snapshot_gb, snapshots=snapshots)
        return used

    def quota_set(self, project_id: str, *, usage: bool) -> QuotaSet:
        return QuotaSet(project_id, self.limits_of(project_id),
                        self.usage(project_id) if usage else {})

    def check(self, project_id: str, *, volumes: int = 0, gigabytes: int = 0,
              snapshots: int = 0) -> None:
        """StorageFull when adding this much would pass a limit."""
        limits, used = self.limits_of(project_id), self.usage(project_id)
        per_volume = limits["per_volume_gigabytes"]
        if volumes and per_volume != UNLIMITED and gigabytes > per_volume:
            raise StorageFull(f"VolumeSizeExceedsLimit: Requested volume size {gigabytes}G is "
                              f"larger than maximum allowed limit {per_volume}G.")
        for name, extra in (("volumes", volumes), ("gigabytes", gigabytes),
                            ("snapshots", snapshots)):
            limit = limits[name]
            if extra and limit != UNLIMITED and used[name] + extra > limit:
                unit = "G" if name == "gigabytes" else ""
                raise StorageFull(
                    f"Requested volume or snapshot exceeds allowed {name} quota. Requested "
                    f"{extra}{unit}, quota is {limit}{unit} and {used[name]}{unit} has been "
                    "consumed.")

    def absolute_limits(self, project_id: str) -> dict[str, int]:
        limits, used = self.limits_of(project_id), self.usage(project_id)
        return {
            "maxTotalVolumes": limits["volumes"], "maxTotalSnapshots": limits["snapshots"],
            "maxTotalVolumeGigabytes": limits["gigabytes"],
            "maxTotalBackups": limits["backups"],
            "maxTotalBackupGigabytes": limits["backup_gigabytes"],
            "totalVolumesUsed": used["volumes"], "totalSnapshotsUsed": used["snapshots"],
            "totalGigabytesUsed": used["gigabytes"], "totalBackupsUsed": 0,
            "totalBackupGigabytesUsed": 0,
        }
