"""Live copy of a disk of a guest that runs under plain QEMU (no libvirt), over QMP.

``drive-mirror`` with ``sync: top`` and ``mode: existing`` into a qcow2 delta whose backing file
is the disk's own backing file (the same shallow copy as libvirt's blockRebase), wait for
``BLOCK_JOB_READY``, then ``block-job-cancel``: once ready, cancelling leaves a consistent
point-in-time copy and the guest stays on its disk (no pivot). The disk is found by its file
name in ``query-block``.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from cowshed.errors import BackendUnavailable, ExternalToolError, NotFound

JOB = "cowshed-snapshot"
TIMEOUT = 1800.0


class Qmp:
    """One QMP connection (a unix socket), capabilities negotiated."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError as exc:
            self.sock.close()
            raise BackendUnavailable(f"cannot reach QMP at {path}: {exc.strerror}") from exc
        self._buf = b""
        self.events: list[dict[str, Any]] = []
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def close(self) -> None:
        self.sock.close()

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BackendUnavailable("QMP connection closed")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ExternalToolError("QMP sent something that is not an object")
        return data

    def execute(self, command: str, **arguments: Any) -> Any:
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise ExternalToolError(f"QMP {command}: {reply['error'].get('desc')}")
            return reply.get("return")

    def wait_event(self, names: set[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("event") in names and event.get("data", {}).get("device") == JOB:
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise ExternalToolError(f"QMP: no {sorted(names)} within {timeout:.0f} s")
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)

    def node_of(self, filename: str) -> str:
        """The block node whose image file is ``filename``."""
        for block in self.execute("query-block") or []:
            inserted = block.get("inserted") or {}
            if inserted.get("file") == filename:
                return str(inserted.get("node-name") or block.get("device"))
        raise NotFound(f"no block device of this QEMU uses {filename}")


def live_copy(socket_path: Path, disk_file: str, delta: Path) -> None:
    """Mirror the top layer of ``disk_file`` into the existing ``delta`` and stop, no pivot."""
    qmp = Qmp(socket_path)
    try:
        node = qmp.node_of(disk_file)
        qmp.execute("drive-mirror", **{"job-id": JOB, "device": node, "target": str(delta),
                                       "format": "qcow2", "sync": "top", "mode": "existing"})
        try:
            qmp.wait_event({"BLOCK_JOB_READY"}, TIMEOUT)
        finally:
            qmp.execute("block-job-cancel", device=JOB)
            qmp.wait_event({"BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"}, 120)
    finally:
        qmp.close()
