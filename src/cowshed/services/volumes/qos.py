"""QoS specs (Cinder's ``qos-specs``): named sets of limits associated with volume types.

``front-end`` (and ``both``) specs reach the hypervisor: a volume's connection info carries its
type's specs as ``qos_specs`` and the libvirt ``<disk>`` gets the matching ``<iotune>``, as Nova
applies them. ``back-end`` specs are kept and shown only: neither the file nor the RBD backend
enforces limits itself (Cinder's RBD driver does not either). Every call needs the admin role.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from cowshed.db.volume_qos import QosRepository
from cowshed.domain.volumes import Caller, QosConsumer, QosSpecs, VolumeType
from cowshed.errors import AlreadyExists, Forbidden, InvalidRequest, InvalidState
from cowshed.services.volumes.types import VolumeTypes


def _admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:qos_specs_manage to be "
                        "performed.")


class QosAdmin:
    """The ``qos-specs`` operations over the types' QoS repository."""

    def __init__(self, types: VolumeTypes) -> None:
        self.types = types

    @property
    def repo(self) -> QosRepository:
        if self.types.qos is None:
            raise InvalidRequest("QoS specs cannot be changed in this deployment.")
        return self.types.qos

    def create(self, caller: Caller, name: str, consumer: QosConsumer,
               specs: Mapping[str, str]) -> QosSpecs:
        _admin(caller)
        return self.repo.create(str(uuid.uuid4()), name, consumer, specs)

    def get(self, caller: Caller, qos_id: str) -> QosSpecs:
        _admin(caller)
        return self.repo.get(qos_id)

    def all(self, caller: Caller) -> list[QosSpecs]:
        _admin(caller)
        return self.repo.all()

    def set_keys(self, caller: Caller, qos_id: str,
                 specs: Mapping[str, str]) -> Mapping[str, str]:
        _admin(caller)
        self.repo.set_keys(qos_id, specs)
        return dict(specs)

    def unset_keys(self, caller: Caller, qos_id: str, keys: Iterable[str]) -> None:
        _admin(caller)
        self.repo.get(qos_id)
        self.repo.delete_keys(qos_id, keys)

    def delete(self, caller: Caller, qos_id: str, *, force: bool) -> None:
        """InvalidState while types use the set, unless ``force`` (which drops the links)."""
        _admin(caller)
        self.repo.get(qos_id)
        if self.repo.types_of(qos_id) and not force:
            raise InvalidState(f"QoS Specs {qos_id} is still associated with entities.")
        self.repo.delete(qos_id)

    def associate(self, caller: Caller, qos_id: str, type_ref: str) -> None:
        """InvalidRequest when the type has other QoS specs (Cinder: InvalidVolumeType)."""
        _admin(caller)
        self.repo.get(qos_id)
        vtype = self.types.get(type_ref)
        try:
            self.repo.associate(qos_id, vtype.id)
        except AlreadyExists as exc:
            raise InvalidRequest(f"Invalid volume type: {exc.message}") from None

    def disassociate(self, caller: Caller, qos_id: str, type_ref: str | None) -> None:
        """One type (every type when ``type_ref`` is None)."""
        _admin(caller)
        self.repo.get(qos_id)
        type_id = None if type_ref is None else self.types.get(type_ref).id
        self.repo.disassociate(qos_id, type_id)

    def associations(self, caller: Caller, qos_id: str) -> list[VolumeType]:
        _admin(caller)
        self.repo.get(qos_id)
        linked = set(self.repo.types_of(qos_id))
        return [t for t in self.types.list() if t.id in linked]


def front_end_specs(qos: QosSpecs | None) -> dict[str, str] | None:
    """What a connection carries as ``qos_specs``: a front-end set's specs, else None."""
    return dict(qos.specs) if qos is not None and qos.front_end else None
