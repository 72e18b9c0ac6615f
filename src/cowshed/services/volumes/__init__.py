"""The volume service (Cinder v3 semantics): volumes, snapshots, attachments, lineage, types."""

from cowshed.services.volumes.service import VolumeService

__all__ = ["VolumeService"]
