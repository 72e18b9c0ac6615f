"""Volume quota limits: built-in defaults, overridden by the ``default`` quota class and then
by each project's own limits, both set over the API (``os-quota-class-sets``,
``os-quota-sets``) and kept in ``volume_quota_limits``.

Resources are Cinder's: ``volumes``, ``snapshots``, ``gigabytes`` (volumes and snapshots
together), ``per_volume_gigabytes``, ``backups``, ``backup_gigabytes``, ``groups``, and per volume
type ``volumes_<type>``, ``snapshots_<type>``, ``gigabytes_<type>``. -1 is unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cowshed.db.volume_types import VolumeTypeRepository
from cowshed.errors import InvalidRequest
from cowshed.services.volumes.types import VolumeTypes

UNLIMITED = -1
#: per-project defaults. Volume and snapshot counts are not limited (a deployment's own tests
#: share one project); the total size is, so a huge request is refused before any byte moves.
DEFAULTS: Mapping[str, int] = MappingProxyType({
    "volumes": UNLIMITED, "snapshots": UNLIMITED, "gigabytes": 1000,
    "per_volume_gigabytes": UNLIMITED, "backups": 10, "backup_gigabytes": 1000, "groups": 10,
})
PER_TYPE = ("volumes", "snapshots", "gigabytes")
#: keys a quota body may carry that are not limits (Cinder's NON_QUOTA_KEYS).
NOT_LIMITS = frozenset({"id", "tenant_id"})
PROJECT, CLASS = "project", "class"
DEFAULT_CLASS = "default"
#: the largest limit accepted (Cinder's database column is a 32-bit integer).
MAX_LIMIT = 0x7FFFFFFF


class QuotaLimits:
    """The limits in force for a project or a quota class (see the module docstring)."""

    def __init__(self, repo: VolumeTypeRepository, types: VolumeTypes) -> None:
        self.repo = repo
        self.types = types

    def keys(self) -> list[str]:
        """Every resource, the per-type ones of every type included."""
        return [*DEFAULTS, *(f"{what}_{t.name}" for t in self.types.list() for what in PER_TYPE)]

    def _builtin(self) -> dict[str, int]:
        return {key: DEFAULTS.get(key, UNLIMITED) for key in self.keys()}

    def class_limits(self, name: str = DEFAULT_CLASS) -> dict[str, int]:
        limits = self._builtin()
        limits.update(self._known(self.repo.quota_limits(CLASS, DEFAULT_CLASS), limits))
        if name != DEFAULT_CLASS:
            limits.update(self._known(self.repo.quota_limits(CLASS, name), limits))
        return limits

    def project_limits(self, project_id: str) -> dict[str, int]:
        limits = self.class_limits()
        limits.update(self._known(self.repo.quota_limits(PROJECT, project_id), limits))
        return limits

    @staticmethod
    def _known(stored: Mapping[str, int], limits: Mapping[str, int]) -> dict[str, int]:
        """Stored limits of resources that still exist (a deleted type's keys drop out)."""
        return {k: v for k, v in stored.items() if k in limits}

    def validate(self, values: Mapping[str, Any]) -> dict[str, int]:
        """The limits of a quota body: known keys only (``id``/``tenant_id`` ignored), each an
        integer (or its string) of at least -1. InvalidRequest otherwise, as Cinder words it."""
        known = set(self.keys())
        bad = [k for k in values if k not in known and k not in NOT_LIMITS]
        if bad:
            raise InvalidRequest(f"Bad key(s) in quota set: {','.join(bad)}")
        return {k: _limit(v) for k, v in values.items() if k not in NOT_LIMITS}

    def set_project(self, project_id: str, limits: Mapping[str, int]) -> None:
        self.repo.set_quota_limits(PROJECT, project_id, limits)

    def clear_project(self, project_id: str) -> None:
        self.repo.clear_quota_limits(PROJECT, project_id)

    def set_class(self, name: str, limits: Mapping[str, int]) -> None:
        self.repo.set_quota_limits(CLASS, name, limits)


def _limit(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidRequest("Quota limit must be specified as an integer value.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest("Quota limit must be specified as an integer value.") from None
    if isinstance(value, float) and number != value:
        raise InvalidRequest("Quota limit must be specified as an integer value.")
    if number < UNLIMITED:
        raise InvalidRequest("Quota limit must be -1 or greater.")
    if number > MAX_LIMIT:
        raise InvalidRequest(f"Quota limit must be at most {MAX_LIMIT}.")
    return number
