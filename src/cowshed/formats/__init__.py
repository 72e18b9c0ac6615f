"""The one hardened door for untrusted image bytes.

``inspect`` detects formats and runs named safety checks on streams and files (no subprocess);
``qemu_img`` is the only place cowshed runs qemu-img (always ``-f``, absolute paths, resource
limits); ``policy`` says which formats are accepted and converts images for a store. Bytes reach
qemu-img only after they passed inspection. This package imports nothing from db/, services/,
api/ or backends/.
"""

from cowshed.formats.inspect import (
    InspectionResult,
    InspectorConfig,
    StreamInspector,
    inspect_file,
)
from cowshed.formats.types import ContainerFormat, DiskFormat, qemu_driver

__all__ = [
    "ContainerFormat",
    "DiskFormat",
    "InspectionResult",
    "InspectorConfig",
    "StreamInspector",
    "inspect_file",
    "qemu_driver",
]
