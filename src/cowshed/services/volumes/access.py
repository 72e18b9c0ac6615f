"""Who may see and change what: the caller's own project (admins: every project)."""

from __future__ import annotations

from cowshed.db.repository import VolumeRepositories
from cowshed.domain.volumes import Caller, Snapshot, Volume
from cowshed.errors import Forbidden, NotFound


class Access:
    def __init__(self, db: VolumeRepositories) -> None:
        self.db = db

    @staticmethod
    def owns(caller: Caller, project_id: str) -> bool:
        return caller.is_admin or project_id == caller.project_id

    def volume(self, caller: Caller, volume_id: str) -> Volume:
        """A volume the caller may see; NotFound for unknown, hidden or foreign ones."""
        volume = self.db.find_volume(volume_id)
        if volume is None or volume.hidden or not self.owns(caller, volume.project_id):
            raise NotFound(f"Volume {volume_id} could not be found.")
        return volume

    def snapshot(self, caller: Caller, snapshot_id: str) -> Snapshot:
        try:
            snap = self.db.get_snapshot(snapshot_id)
        except NotFound:
            raise NotFound(f"Snapshot {snapshot_id} could not be found.") from None
        if snap.hidden or not self.owns(caller, snap.project_id):
            raise NotFound(f"Snapshot {snapshot_id} could not be found.")
        return snap

    @staticmethod
    def admin(caller: Caller, what: str) -> None:
        if not caller.is_admin:
            raise Forbidden(f"Policy doesn't allow {what} to be performed.")
