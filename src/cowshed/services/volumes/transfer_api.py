"""The volume transfer methods of :class:`~cowshed.services.volumes.VolumeService` (Cinder's
``os-volume-transfer`` / ``volume-transfers``).

A project offers an ``available`` volume (it turns ``awaiting-transfer``) and receives a random
auth key; any project that presents the transfer id and that key within the acceptor's quota
becomes the volume's owner, with its snapshots. Only a salted SHA-256 of the key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from cowshed.db.volume_transfers import TransferRepository
from cowshed.domain.clock import utcnow
from cowshed.domain.volumes import Caller, TransferOffer, VolumeStatus, VolumeTransfer
from cowshed.errors import InvalidRequest, InvalidState, NotFound
from cowshed.services.volumes.base import ServiceBase

#: Cinder's ``volume_transfer_key_length``.
KEY_LENGTH = 16


def _hash(salt: str, auth_key: str) -> str:
    return hashlib.sha256(f"{salt}{auth_key}".encode()).hexdigest()


class TransferMethods(ServiceBase):
    @property
    def _transfers(self) -> TransferRepository:
        return TransferRepository(self.rt.db.engine)

    def transfer_create(self, caller: Caller, volume_id: str, *, name: str | None = None,
                        with_snapshots: bool = True) -> TransferOffer:
        """Offer the volume; InvalidState unless it is ``available``. Without its snapshots
        (``no_snapshots``) only a volume that has none may go."""
        volume = self._access.volume(caller, volume_id)
        if volume.status is not VolumeStatus.AVAILABLE:
            raise InvalidState(f"Invalid volume: status must be available to transfer volume "
                               f"{volume_id}, it is {volume.status}")
        snaps = self.rt.db.snapshots_of(volume_id, hidden=False)
        if not with_snapshots and snaps:
            raise InvalidRequest(f"Invalid volume: volume {volume_id} has snapshots; transfer "
                                 "it with them (no_snapshots false)")
        auth_key = secrets.token_hex(KEY_LENGTH // 2)
        salt = secrets.token_hex(8)
        transfer = VolumeTransfer(
            id=str(uuid.uuid4()), volume_id=volume_id, name=name, salt=salt,
            crypt_hash=_hash(salt, auth_key), source_project_id=volume.project_id,
            created_at=utcnow(), with_snapshots=with_snapshots)
        self._transfers.offer(transfer)
        return TransferOffer(transfer, auth_key)

    def transfer_get(self, caller: Caller, transfer_id: str) -> VolumeTransfer:
        """NotFound unless the caller's project made the offer (or is an admin)."""
        try:
            transfer = self._transfers.get(transfer_id)
        except NotFound:
            raise NotFound(f"Transfer {transfer_id} could not be found.") from None
        if not self._access.owns(caller, transfer.source_project_id):
            raise NotFound(f"Transfer {transfer_id} could not be found.")
        return transfer

    def transfer_list(self, caller: Caller, *, all_projects: bool = False
                      ) -> list[VolumeTransfer]:
        """The caller's project's offers (every project's for an admin asking for them)."""
        scope = None if all_projects and caller.is_admin else caller.project_id
        return self._transfers.of_project(scope)

    def transfer_delete(self, caller: Caller, transfer_id: str) -> None:
        """Withdraw the offer: the volume is ``available`` again."""
        self._transfers.withdraw(self.transfer_get(caller, transfer_id))

    def transfer_accept(self, caller: Caller, transfer_id: str, auth_key: str) -> VolumeTransfer:
        """Take the volume into the caller's project. NotFound for an unknown transfer,
        InvalidRequest for a wrong key, StorageFull over the caller's quota."""
        try:
            transfer = self._transfers.get(transfer_id)
        except NotFound:
            raise NotFound(f"Transfer {transfer_id} could not be found.") from None
        if not hmac.compare_digest(_hash(transfer.salt, auth_key), transfer.crypt_hash):
            raise InvalidRequest(f"Attempt to transfer {transfer_id} with invalid auth key.")
        volume = self.rt.db.get_volume(transfer.volume_id)
        snaps = self.rt.db.snapshots_of(volume.id, hidden=False) \
            if transfer.with_snapshots else []
        self._quotas.check(caller.project_id, volumes=1,
                           gigabytes=volume.size + sum(s.size for s in snaps),
                           snapshots=len(snaps))
        self._transfers.accept(transfer, caller.project_id, caller.user_id)
        return transfer
