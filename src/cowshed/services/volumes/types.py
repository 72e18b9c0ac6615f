"""Volume types: one per configured volume backend, named after it (Cinder's
``volume_backend_name`` extra spec). Types are configuration, not records, so their ids are
derived from the name and stay the same across restarts and processes."""

from __future__ import annotations

import uuid
from types import MappingProxyType

from cowshed.config import Settings, VolumeBackendSettings
from cowshed.domain.volumes import VolumeType
from cowshed.errors import NotFound

#: namespace of the name-derived type ids.
_TYPE_NS = uuid.UUID("9d3c8e0a-4f1e-5b8a-9c55-2f0a6f1c7e11")


def type_id(name: str) -> str:
    return str(uuid.uuid5(_TYPE_NS, name))


def _as_type(spec: VolumeBackendSettings) -> VolumeType:
    return VolumeType(
        id=type_id(spec.name), name=spec.name,
        description=spec.description or f"{spec.type} volumes ({spec.name})",
        is_public=True,
        extra_specs=MappingProxyType({"volume_backend_name": spec.name}),
        backend_kind=spec.type,
    )


class VolumeTypes:
    """The deployment's volume types, in configuration order."""

    def __init__(self, settings: Settings) -> None:
        self._types = [_as_type(s) for s in settings.effective_volume_backends()]
        self._default = settings.volume_type_default

    def list(self) -> list[VolumeType]:
        return list(self._types)

    def get(self, name_or_id: str) -> VolumeType:
        """The type with that id or name; NotFound."""
        for vtype in self._types:
            if name_or_id in (vtype.id, vtype.name):
                return vtype
        raise NotFound(f"Volume type {name_or_id} could not be found.")

    def default(self) -> VolumeType:
        return self.get(self._default)
