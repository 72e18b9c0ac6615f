"""Volume-backed instances: the node's side of a Cinder-compatible Block Storage API v3.

* **attach** (spawn ``--boot-volume``): the attachments API as Nova uses it today (3.27+):
  ``POST /v3/attachments`` with this host's connector, which answers the connection info
  (RBD ``pool/volume-<id>`` and monitors, or a file path and format), then ``os-complete``
  (3.44). The root disk's record keeps the volume and attachment ids; the disk XML comes from
  the connection info.
* **snapshot** (Nova's ``snapshot_volume_backed``): a snapshot of every attached volume
  (``force``: the volume is in use), waited for until ``available``, then a zero-byte image
  whose ``block_device_mapping`` names them (``bdm_v2``, ``root_device_name``). Booting that
  image makes new volumes from the snapshots.
* **detach** (delete): ``DELETE /v3/attachments/{id}``; the volume itself belongs to the volume
  service and is neither wiped nor deleted (``delete_on_termination`` false).
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cowshed.domain.instance_disks import DiskKind, InstanceDisk, Provision, SourceType
from cowshed.errors import BackendUnavailable, InvalidRequest, NotFound
from cowshed.node.imageservice import error_for

MICROVERSION = "volume 3.44"
#: seconds a snapshot may take to become available.
SNAPSHOT_TIMEOUT = 600.0


@dataclass(frozen=True)
class VolumeSnapshot:
    id: str
    volume_id: str
    size_gb: int


class VolumeServiceClient:
    def __init__(self, base_url: str, token: str = "", timeout: float = 60.0) -> None:
        if not base_url:
            raise InvalidRequest("node.volume_service_url is not set")
        headers = {"OpenStack-API-Version": MICROVERSION}
        if token:
            headers["X-Auth-Token"] = token
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                  timeout=httpx.Timeout(timeout, connect=10.0))

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, url: str, what: str, json_body: Any = None) -> Any:
        try:
            response = self._http.request(method, url, json=json_body)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"volume service unreachable ({what}): {exc}") from exc
        if response.status_code >= 300:
            raise error_for(response, what, "volume service")
        return response.json() if response.content else None

    def volume(self, volume_id: str) -> dict[str, Any]:
        body = self._call("GET", f"/v3/volumes/{volume_id}", f"volume {volume_id}")
        return dict(body["volume"])

    def attach(self, volume_id: str, instance: str) -> dict[str, Any]:
        """Create and complete an attachment; the attachment with its connection info."""
        connector = {"host": socket.gethostname(), "platform": "x86_64", "os_type": "linux",
                     "multipath": False}
        body = self._call("POST", "/v3/attachments", f"attaching volume {volume_id}",
                          {"attachment": {"volume_uuid": volume_id, "instance_uuid": instance,
                                          "connector": connector}})
        att = dict(body["attachment"])
        self._call("POST", f"/v3/attachments/{att['id']}/action",
                   f"completing attachment of {volume_id}", {"os-complete": None})
        return att

    def detach(self, attachment_id: str) -> None:
        try:
            self._call("DELETE", f"/v3/attachments/{attachment_id}",
                       f"attachment {attachment_id}")
        except NotFound:
            return

    def snapshot(self, volume_id: str, name: str) -> VolumeSnapshot:
        body = self._call("POST", "/v3/snapshots", f"snapshot of volume {volume_id}",
                          {"snapshot": {"volume_id": volume_id, "force": True, "name": name}})
        snap = dict(body["snapshot"])
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT
        while snap.get("status") != "available":
            if snap.get("status") == "error" or time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"snapshot {snap.get('id')} of volume {volume_id} is {snap.get('status')}")
            time.sleep(0.2)
            snap = dict(self._call("GET", f"/v3/snapshots/{snap['id']}",
                                   f"snapshot {snap['id']}")["snapshot"])
        return VolumeSnapshot(str(snap["id"]), volume_id, int(snap.get("size") or 0))


def volume_disk(att: dict[str, Any], volume: dict[str, Any], target: str) -> InstanceDisk:
    """The root disk record for an attached volume, from its connection info."""
    info = att.get("connection_info") or {}
    kind = str(info.get("driver_volume_type"))
    size = int(volume.get("size") or 0) << 30
    common: dict[str, Any] = {"name": "disk", "kind": DiskKind.ROOT, "size": size,
                              "provision": Provision.VOLUME, "target": target,
                              "volume_id": str(volume["id"]), "attachment_id": str(att["id"])}
    if kind == "rbd":
        hosts = tuple(f"{h}:{p}" for h, p in zip(info.get("hosts") or [],
                                                 info.get("ports") or [], strict=False))
        return InstanceDisk(source_type=SourceType.NETWORK, path=str(info["name"]),
                            format="raw", hosts=hosts, **common)
    if kind == "file":
        return InstanceDisk(source_type=SourceType.FILE, path=str(info["path"]),
                            format=str(info.get("format") or "raw"), **common)
    raise InvalidRequest(f"volume {volume['id']}: connection type {kind!r} is not supported")


def block_device_mapping(snaps: list[VolumeSnapshot]) -> str:
    """The image property Nova writes for a volume-backed snapshot (bdm_v2 form)."""
    return json.dumps([{
        "source_type": "snapshot", "destination_type": "volume", "snapshot_id": s.id,
        "volume_size": s.size_gb, "boot_index": 0 if i == 0 else None,
        "device_name": f"/dev/vd{chr(ord('a') + i)}", "delete_on_termination": False,
        "guest_format": None, "disk_bus": "virtio", "device_type": "disk", "tag": None,
        "volume_type": None, "no_device": None,
    } for i, s in enumerate(snaps)])
