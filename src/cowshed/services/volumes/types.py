"""Volume types: one per configured volume backend, named after it (Cinder's
``volume_backend_name`` extra spec), plus the types admins create over the API.

Configured types are configuration, not records: their ids are derived from the name and stay
the same across restarts and processes, and they cannot be changed over the API. API-created
types live in the database (``db/volume_types.py``); a volume of such a type lives on the backend
its ``volume_backend_name`` extra spec names, else on the default type's backend. Other extra
specs are kept and shown but select nothing (cowshed has no capability scheduler).
"""

from __future__ import annotations

import dataclasses
import uuid
from types import MappingProxyType

from cowshed.config import Settings, VolumeBackendSettings
from cowshed.db.volume_qos import QosRepository
from cowshed.db.volume_types import StoredType, VolumeTypeRepository
from cowshed.domain.volumes import Caller, QosSpecs, VolumeType
from cowshed.errors import InvalidRequest, NotFound

#: namespace of the name-derived type ids.
_TYPE_NS = uuid.UUID("9d3c8e0a-4f1e-5b8a-9c55-2f0a6f1c7e11")
#: the extra spec that names the backend a type's volumes live on.
BACKEND_SPEC = "volume_backend_name"


def type_id(name: str) -> str:
    """The id of the configured type ``name``."""
    return str(uuid.uuid5(_TYPE_NS, name))


def _as_type(spec: VolumeBackendSettings) -> VolumeType:
    return VolumeType(
        id=type_id(spec.name), name=spec.name,
        description=spec.description or f"{spec.type} volumes ({spec.name})",
        is_public=True,
        extra_specs=MappingProxyType({BACKEND_SPEC: spec.name}),
        backend_kind=spec.type, backend=spec.name, configured=True,
    )


def visible_to(vtype: VolumeType, projects: tuple[str, ...], caller: Caller) -> bool:
    """Cinder's rule: public types for all, private ones for admins and the projects given
    access."""
    return vtype.is_public or caller.is_admin or caller.project_id in projects


class VolumeTypes:
    """The deployment's volume types: the configured ones in configuration order, then those
    created over the API (when a repository is given) in creation order."""

    def __init__(self, settings: Settings, repo: VolumeTypeRepository | None = None) -> None:
        self._configured = [_as_type(s) for s in settings.effective_volume_backends()]
        self._default = settings.volume_type_default
        self.repo = repo
        self.qos = QosRepository(repo.engine) if repo is not None else None

    def _with_qos(self, types: list[VolumeType]) -> list[VolumeType]:
        links = self.qos.qos_of_types() if self.qos is not None else {}
        return [dataclasses.replace(t, qos_specs_id=links.get(t.id)) for t in types]

    def qos_for(self, type_name: str) -> QosSpecs | None:
        """The QoS specs associated with a type (None when none, or the type is unknown)."""
        try:
            vtype = self.get(type_name)
        except NotFound:
            return None
        if self.qos is None or vtype.qos_specs_id is None:
            return None
        return self.qos.get(vtype.qos_specs_id)

    def _stored(self) -> list[StoredType]:
        return self.repo.list_types() if self.repo is not None else []

    def _from_stored(self, stored: StoredType) -> VolumeType:
        backend = self._backend_for(stored.extra_specs.get(BACKEND_SPEC))
        return VolumeType(
            id=stored.id, name=stored.name, description=stored.description or "",
            is_public=stored.is_public, extra_specs=stored.extra_specs,
            backend_kind=backend.backend_kind if backend else "", backend=backend.name
            if backend else "", configured=False,
        )

    def _backend_for(self, backend_name: str | None) -> VolumeType | None:
        """The configured type of that backend (the default's when None); None if unknown."""
        wanted = backend_name if backend_name is not None else self._default
        return next((t for t in self._configured if t.name == wanted), None)

    def list(self, caller: Caller | None = None) -> list[VolumeType]:
        """Every type; with a ``caller``, only those it may see."""
        out = list(self._configured)
        for stored in self._stored():
            if caller is None or visible_to(self._from_stored(stored), stored.projects, caller):
                out.append(self._from_stored(stored))
        return self._with_qos(out)

    def index(self) -> dict[str, VolumeType]:
        """Every type by name (for views that show a volume's type id and backend)."""
        return {t.name: t for t in self.list()}

    def get(self, name_or_id: str, caller: Caller | None = None) -> VolumeType:
        """The type with that id or name (a private one only if ``caller`` may see it, when
        given); NotFound."""
        for vtype in self._configured:
            if name_or_id in (vtype.id, vtype.name):
                return self._with_qos([vtype])[0]
        stored = self.repo.find_type(name_or_id) if self.repo is not None else None
        if stored is not None:
            vtype = self._from_stored(stored)
            if caller is None or visible_to(vtype, stored.projects, caller):
                return self._with_qos([vtype])[0]
        raise NotFound(f"Volume type {name_or_id} could not be found.")

    def stored(self, name_or_id: str) -> StoredType:
        """The API-created type (NotFound; InvalidRequest for a configured one, which cannot
        be changed over the API)."""
        for vtype in self._configured:
            if name_or_id in (vtype.id, vtype.name):
                raise InvalidRequest(
                    f"Volume type {vtype.name} is configured ([volume_backends.{vtype.name}] "
                    "in the settings) and cannot be changed over the API.")
        found = self.repo.find_type(name_or_id) if self.repo is not None else None
        if found is None:
            raise NotFound(f"Volume type {name_or_id} could not be found.")
        return found

    def configured_names(self) -> set[str]:
        return {t.name for t in self._configured}

    def default(self) -> VolumeType:
        return self.get(self._default)

    def backend_of(self, type_name: str) -> str:
        """The configured backend a type's volumes live on; InvalidRequest when its
        ``volume_backend_name`` names no configured backend (Cinder: no valid backend)."""
        vtype = self.get(type_name)
        if not vtype.backend:
            raise InvalidRequest(
                f"No valid backend was found: volume type {vtype.name} asks for "
                f"{BACKEND_SPEC}={vtype.extra_specs.get(BACKEND_SPEC)!r}, which is not a "
                "configured volume backend.")
        return vtype.backend
