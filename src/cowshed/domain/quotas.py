"""Per-project image quotas, under the names Glance gives them as Keystone limits.

Sizes are MiB, as in Glance's ``/v2/info/usage``; a limit of -1 is unlimited. The defaults are
settings; a project may have its own limits (``cowshed identity project set --quota``).
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
#: resource → whether it counts MiB (else images).
IMAGE_RESOURCES: dict[str, bool] = {
    "image_count_total": False,
    "image_size_total": True,
    "image_stage_total": True,
    "image_count_uploading": False,
}
UNLIMITED = -1


@dataclass(frozen=True)
class ImageUsage:
    """What a project holds now: images, their bytes, staged bytes, uploads under way."""

    count_total: int
    size_total: int
    stage_total: int
    count_uploading: int

    def of(self, resource: str) -> int:
        """The usage in the resource's unit (MiB rounded up for sizes)."""
        value: int = getattr(self, resource.removeprefix("image_"))
        return -(-value // MiB) if IMAGE_RESOURCES[resource] else value
