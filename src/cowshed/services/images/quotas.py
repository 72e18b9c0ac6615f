"""Per-project image quotas: 413 before a create, upload, stage or import would exceed one.

Checked when the request starts (as Glance does with Keystone limits), and the bytes an upload
or stage may still bring are its size cap, so a stream cannot run past the quota either.
Concurrent uploads of one project may together overshoot by what each was allowed when it
started.
"""

from __future__ import annotations

import contextlib

from cowshed.domain.context import RequestContext
from cowshed.domain.quotas import IMAGE_RESOURCES, UNLIMITED, ImageUsage, MiB
from cowshed.errors import InvalidRequest, NotFound, StorageFull
from cowshed.services.context import Deps


class ImageQuotas:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.repo = deps.repo
        self.settings = deps.settings

    def limits(self, project_id: str | None) -> dict[str, int]:
        limits = {name: int(getattr(self.settings, name)) for name in IMAGE_RESOURCES}
        if project_id is not None:
            limits.update(self.repo.quota_limits(project_id))
        return limits

    def usage(self, project_id: str | None) -> ImageUsage:
        if project_id is None:
            return ImageUsage(0, 0, 0, 0)
        count, size, uploading = self.repo.owned_counts(project_id)
        staged = 0
        for image_id in self.repo.staged_ids(project_id):
            with contextlib.suppress(NotFound):
                staged += self.deps.staging.stat(image_id).size
        return ImageUsage(count, size, staged, uploading)

    def _over(self, owner: str | None, resource: str, delta: int = 1) -> None:
        limit = self.limits(owner)[resource]
        if limit == UNLIMITED or owner is None:
            return
        used = self.usage(owner).of(resource)
        if used + delta > limit:
            raise StorageFull(
                f"This request would exceed a quota: resource {resource} is over the limit of "
                f"{limit} due to current usage {used} and delta {delta}")

    def set_limit(self, ctx: RequestContext, project_id: str, resource: str,
                  limit: int | None) -> None:
        """An admin sets (None: back to the default) one of a project's limits."""
        self.deps.policy.enforce("identity:admin_required", ctx, {})
        if resource not in IMAGE_RESOURCES:
            raise InvalidRequest(f"Unknown quota {resource!r}; one of "
                                 f"{', '.join(IMAGE_RESOURCES)}")
        if limit is not None and limit < UNLIMITED:
            raise InvalidRequest(f"Quota {resource} must be -1 (unlimited) or more")
        self.repo.set_quota_limit(project_id, resource, limit)

    def check_create(self, owner: str | None) -> None:
        self._over(owner, "image_count_total")

    def check_import(self, owner: str | None) -> None:
        """Glance's import check: the project is not over its image_size_total already."""
        self._over(owner, "image_size_total", 0)

    def data_cap(self, owner: str | None, staging: bool) -> int:
        """How many bytes an upload (or a stage) of ``owner`` may bring: the size cap, lowered
        to what is left of its quota; StorageFull if nothing is left or an upload more would
        exceed image_count_uploading."""
        self._over(owner, "image_count_uploading")
        resource = "image_stage_total" if staging else "image_size_total"
        self._over(owner, resource, 0)
        limit = self.limits(owner)[resource]
        cap = self.settings.image_size_cap
        if limit == UNLIMITED or owner is None:
            return cap
        used = self.usage(owner).stage_total if staging else self.usage(owner).size_total
        return max(0, min(cap, limit * MiB - used))
