"""SQL for volume transfers; accepting one moves the volume (and its snapshots) to the new
project in the same transaction that ends the offer."""

from __future__ import annotations

import sqlalchemy as sa

from cowshed.db.schema import volume_snapshots, volume_transfers, volumes
from cowshed.domain.clock import utcnow
from cowshed.domain.volumes import VolumeStatus, VolumeTransfer
from cowshed.errors import InvalidState, NotFound


class TransferRepository:
    """Every query on ``volume_transfers``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def offer(self, transfer: VolumeTransfer) -> None:
        """Insert the offer and turn the volume ``awaiting-transfer``, both or neither;
        InvalidState unless the volume is ``available`` (a lost race included)."""
        with self.engine.begin() as conn:
            moved = conn.execute(volumes.update().where(
                volumes.c.id == transfer.volume_id,
                volumes.c.status == str(VolumeStatus.AVAILABLE)).values(
                status=str(VolumeStatus.AWAITING_TRANSFER), updated_at=utcnow())).rowcount
            if moved != 1:
                raise InvalidState(f"Invalid volume: status must be available to transfer "
                                   f"volume {transfer.volume_id}")
            conn.execute(volume_transfers.insert().values(
                id=transfer.id, volume_id=transfer.volume_id, name=transfer.name,
                salt=transfer.salt, crypt_hash=transfer.crypt_hash,
                source_project_id=transfer.source_project_id,
                with_snapshots=transfer.with_snapshots, created_at=transfer.created_at))

    def get(self, transfer_id: str) -> VolumeTransfer:
        with self.engine.connect() as conn:
            row = conn.execute(volume_transfers.select().where(
                volume_transfers.c.id == transfer_id)).mappings().first()
        if row is None:
            raise NotFound(f"Transfer {transfer_id} could not be found.")
        return _record(row)

    def of_project(self, project_id: str | None) -> list[VolumeTransfer]:
        """The offers a project made (every project's for None), oldest first."""
        query = volume_transfers.select().order_by(volume_transfers.c.created_at,
                                                   volume_transfers.c.id)
        if project_id is not None:
            query = query.where(volume_transfers.c.source_project_id == project_id)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def withdraw(self, transfer: VolumeTransfer) -> None:
        """End the offer; the volume is ``available`` again."""
        with self.engine.begin() as conn:
            self._end(conn, transfer)
            conn.execute(volumes.update().where(
                volumes.c.id == transfer.volume_id,
                volumes.c.status == str(VolumeStatus.AWAITING_TRANSFER)).values(
                status=str(VolumeStatus.AVAILABLE), updated_at=utcnow()))

    def accept(self, transfer: VolumeTransfer, project_id: str, user_id: str | None) -> None:
        """Give the volume (and, unless the offer says not, its snapshots) to ``project_id``
        and end the offer, in one transaction."""
        now = utcnow()
        with self.engine.begin() as conn:
            self._end(conn, transfer)
            moved = conn.execute(volumes.update().where(
                volumes.c.id == transfer.volume_id,
                volumes.c.status == str(VolumeStatus.AWAITING_TRANSFER)).values(
                status=str(VolumeStatus.AVAILABLE), project_id=project_id, user_id=user_id,
                updated_at=now)).rowcount
            if moved != 1:
                raise InvalidState(f"Invalid volume: volume {transfer.volume_id} is not "
                                   "awaiting a transfer")
            if transfer.with_snapshots:
                conn.execute(volume_snapshots.update().where(
                    volume_snapshots.c.volume_id == transfer.volume_id).values(
                    project_id=project_id, updated_at=now))

    @staticmethod
    def _end(conn: sa.Connection, transfer: VolumeTransfer) -> None:
        gone = conn.execute(volume_transfers.delete().where(
            volume_transfers.c.id == transfer.id)).rowcount
        if gone != 1:
            raise NotFound(f"Transfer {transfer.id} could not be found.")


def _record(row: sa.RowMapping) -> VolumeTransfer:
    return VolumeTransfer(
        id=row["id"], volume_id=row["volume_id"], name=row["name"], salt=row["salt"],
        crypt_hash=row["crypt_hash"], source_project_id=row["source_project_id"],
        created_at=row["created_at"], with_snapshots=bool(row["with_snapshots"]))
