"""Which uploads are inspected, and with which limits: one rule for every path bytes enter by."""

from __future__ import annotations

from cowshed.config import Settings
from cowshed.domain.images import Image
from cowshed.formats.inspect import InspectorConfig, StreamInspector
from cowshed.formats.policy import inspection_required


def inspector_config(settings: Settings) -> InspectorConfig:
    return InspectorConfig(max_virtual_size=settings.max_virtual_size)


def inspector_for(image: Image, settings: Settings) -> StreamInspector | None:
    """A stream inspector for ``image``'s data, or None for non-bare containers (as Glance)."""
    if image.container_format is not None and not inspection_required(image.container_format):
        return None
    return StreamInspector(image.disk_format, config=inspector_config(settings))
