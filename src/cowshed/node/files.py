"""Small durable-file helpers shared by the node modules (records, sidecars, receipts)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make renames and creations inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, data: object, *, mode: int = 0o644, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON: a reader sees the old file or the new, whole.

    ``sync`` fsyncs the file before the rename (and the directory after), so the record also
    survives a power cut; records that are rebuilt on loss pass False.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()  # C encoder
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.write(fd, payload)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if sync:
        fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file is missing or not an object."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
