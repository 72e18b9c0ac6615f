"""Typed records of qemu-img's JSON output and their parsers (used by :mod:`.qemu_img`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cowshed.errors import ExternalToolError


@dataclass(frozen=True)
class SnapshotInfo:
    """One internal (qcow2) snapshot."""

    id: str
    name: str
    vm_state_size: int
    date_sec: int
    vm_clock_nsec: int


@dataclass(frozen=True)
class ImageInfo:
    """``qemu-img info --output=json``, typed. Optional fields are None when not reported."""

    format: str
    virtual_size: int
    actual_size: int | None
    cluster_size: int | None
    backing_filename: str | None
    backing_format: str | None
    data_file: str | None
    create_type: str | None
    encrypted: bool
    dirty: bool
    compat: str | None
    snapshots: tuple[SnapshotInfo, ...] = ()
    format_specific: Mapping[str, Any] = field(default_factory=dict, hash=False)



def parse_json(text: str, operation: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ExternalToolError(f"qemu-img {operation} printed invalid JSON") from None
    if not isinstance(data, dict):
        raise ExternalToolError(f"qemu-img {operation} printed unexpected JSON")
    return data


def json_int(data: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExternalToolError(f"qemu-img output lacks an integer {key!r}")
    return value


def json_opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return json_int(data, key) if data.get(key) is not None else None


def json_opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ExternalToolError(f"qemu-img output has a non-string {key!r}")
    return value


def parse_info(data: Mapping[str, Any]) -> ImageInfo:
    specific = data.get("format-specific") or {}
    spec_data = specific.get("data") or {} if isinstance(specific, dict) else {}
    if not isinstance(spec_data, dict):
        raise ExternalToolError("qemu-img info: malformed format-specific data")
    fmt = json_opt_str(data, "format")
    if fmt is None:
        raise ExternalToolError("qemu-img info did not report a format")
    return ImageInfo(
        format=fmt,
        virtual_size=json_int(data, "virtual-size"),
        actual_size=json_opt_int(data, "actual-size"),
        cluster_size=json_opt_int(data, "cluster-size"),
        backing_filename=json_opt_str(data, "backing-filename"),
        backing_format=json_opt_str(data, "backing-filename-format"),
        data_file=json_opt_str(spec_data, "data-file"),
        create_type=json_opt_str(spec_data, "create-type"),
        encrypted=bool(data.get("encrypted", False)),
        dirty=bool(data.get("dirty-flag", False)),
        compat=json_opt_str(spec_data, "compat"),
        snapshots=tuple(parse_snapshot(s) for s in data.get("snapshots") or ()),
        format_specific=dict(spec_data),
    )


def parse_snapshot(item: Any) -> SnapshotInfo:
    if not isinstance(item, dict):
        raise ExternalToolError("qemu-img info: malformed snapshot entry")
    clock = json_int(item, "vm-clock-sec", 0) * 1_000_000_000 + json_int(item, "vm-clock-nsec", 0)
    return SnapshotInfo(
        id=str(json_opt_str(item, "id") or ""),
        name=str(json_opt_str(item, "name") or ""),
        vm_state_size=json_int(item, "vm-state-size", 0),
        date_sec=json_int(item, "date-sec", 0),
        vm_clock_nsec=clock,
    )
