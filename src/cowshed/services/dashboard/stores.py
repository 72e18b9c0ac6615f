"""Capacity and usage per image store: the one dashboard figure no Image API call gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cowshed.domain.context import RequestContext
from cowshed.domain.query import ImageQuery

if TYPE_CHECKING:
    from cowshed.services.app import Services

#: images are read in pages of this many while counting usage.
_PAGE = 1000


@dataclass(frozen=True)
class StoreUsage:
    """One store as the dashboard shows it."""

    name: str
    type: str
    description: str
    is_default: bool
    #: bytes the store could hold and bytes still free; None when the backend cannot tell.
    total_bytes: int | None
    free_bytes: int | None
    #: images with a copy in this store, and the bytes of those copies.
    images: int
    image_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "description": self.description,
            "is_default": self.is_default, "total_bytes": self.total_bytes,
            "free_bytes": self.free_bytes, "images": self.images,
            "image_bytes": self.image_bytes,
        }


def store_usage(svc: Services, ctx: RequestContext) -> list[StoreUsage]:
    """Every configured store with its capacity (where the backend reports one) and usage.

    The same policy as ``/v2/info/stores/detail`` (admin by default): capacity and usage are
    deployment facts, and the usage counts every project's images.
    """
    svc.deps.policy.enforce("stores_info_detail", ctx, {})
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    marker: str | None = None
    while True:
        page = svc.images.list_images(ctx, ImageQuery(limit=_PAGE, marker=marker,
                                                 sort=(("id", "asc"),)))
        for image in page:
            for loc in image.locations:
                counts[loc.store] = counts.get(loc.store, 0) + 1
                sizes[loc.store] = sizes.get(loc.store, 0) + (image.size or 0)
        if len(page) < _PAGE:
            break
        marker = page[-1].id
    stores = svc.deps.stores
    out = []
    for name in stores.names():
        backend, spec = stores.get(name), stores.spec(name)
        cap = backend.capacity()
        out.append(StoreUsage(
            name=name, type=spec.type, description=spec.description,
            is_default=name == stores.default_name,
            total_bytes=cap.total_bytes, free_bytes=cap.free_bytes,
            images=counts.get(name, 0), image_bytes=sizes.get(name, 0)))
    return out

