"""Volume quotas and Cinder's absolute limits (read-only; the identity issue makes them
settable). Enforced on create and extend: a request over a limit is StorageFull (Cinder: 413)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cowshed.db.repository import VolumeRepositories
from cowshed.db.volume_types import VolumeTypeRepository
from cowshed.domain.volumes import QuotaSet
from cowshed.errors import StorageFull

UNLIMITED = -1
#: per-project defaults. Volume and snapshot counts are not limited (a deployment's own tests
#: share one project); the total size is, so a huge request is refused before any byte moves.
DEFAULTS: Mapping[str, int] = MappingProxyType({
    "volumes": UNLIMITED, "snapshots": UNLIMITED, "gigabytes": 1000,
    "per_volume_gigabytes": UNLIMITED, "backups": 10, "backup_gigabytes": 1000, "groups": 10,
})


class Quotas:
    def __init__(self, db: VolumeRepositories, limits: VolumeTypeRepository,
                 type_names: list[str]) -> None:
        self.db = db
        self.stored = limits
        self.type_names = type_names

    def defaults(self) -> dict[str, int]:
        """Built-in defaults, then the ``default`` quota class set over the API."""
        limits = dict(DEFAULTS)
        for name in self.type_names:
            for what in ("volumes", "gigabytes", "snapshots"):
                limits[f"{what}_{name}"] = UNLIMITED
        limits.update(self.stored.quota_limits("class", "default"))
        return limits

    def limits_of(self, project_id: str) -> dict[str, int]:
        """The defaults with the project's own limits (set over the API) on top."""
        limits = self.defaults()
        limits.update(self.stored.quota_limits("project", project_id))
        return limits

    def usage(self, project_id: str) -> dict[str, int]:
        volumes, gigabytes = self.db.volume_usage(project_id)
        snapshots = self.db.snapshot_usage(project_id)
        used = dict.fromkeys(self.limits_of(project_id), 0)
        used.update(volumes=volumes, gigabytes=gigabytes, snapshots=snapshots)
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
