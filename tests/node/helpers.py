"""Shared helpers of the node tests: images made with real qemu-img, node settings files."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import httpx

from cowshed.config import Settings, load_settings

MiB = 1 << 20


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_node_config(path: Path, **node: Any) -> Path:
    """A TOML file with only a ``[node]`` table."""
    lines = ["[node]"] + [f"{k} = {toml_value(v)}" for k, v in node.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def node_settings(tmp: Path, url: str, **node: Any) -> Settings:
    """Settings as ``cowshed node --config F`` loads them (file + no environment)."""
    node.setdefault("image_service_url", url)
    node.setdefault("instances_path", str(tmp / "instances"))
    config = write_node_config(tmp / "node.toml", **node)
    return load_settings(data_dir=tmp / "data", config_file=config, environ={})


def qemu_io(path: Path, fmt: str, command: str) -> str:
    out = subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(path)], capture_output=True,
                         text=True, check=True)
    return out.stdout


def make_qcow2(path: Path, size: int, writes: dict[int, int]) -> bytes:
    """A qcow2 image of ``size`` bytes with one MiB of byte ``value`` at each offset."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size)], check=True)
    for offset, value in writes.items():
        qemu_io(path, "qcow2", f"write -P {value} {offset} 1M")
    return path.read_bytes()


def make_raw(size: int, writes: dict[int, int]) -> bytes:
    data = bytearray(size)
    for offset, value in writes.items():
        data[offset:offset + MiB] = bytes([value]) * MiB
    return bytes(data)


def upload_image(client: httpx.Client, data: bytes, disk_format: str, **props: Any) -> str:
    body = {"name": props.pop("name", "node-test"), "disk_format": disk_format,
            "container_format": "bare", **props}
    resp = client.post("/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    image_id: str = resp.json()["id"]
    resp = client.put(f"/v2/images/{image_id}/file", content=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    record = client.get(f"/v2/images/{image_id}").json()
    assert record["status"] == "active"
    assert record["os_hash_value"] == hashlib.sha512(data).hexdigest()
    return image_id


def read_at(path: Path, fmt: str, offset: int, length: int) -> bytes:
    """Guest-visible bytes of an image (follows the backing chain), via qemu-io."""
    out = qemu_io(path, fmt, f"read -v {offset} {length}")
    data = bytearray()
    for line in out.splitlines():
        if ":" not in line or not line[:8].strip().isalnum():
            continue
        # "00000438:  53 ef  S.": up to 16 hex fields after the offset, then the ASCII column
        want = min(16, length - len(data))
        data += bytes(int(h, 16) for h in line[11:].split()[:want])
    return bytes(data[:length])


def cli_json(config: Path, *args: str) -> dict[str, Any]:
    """``cowshed node --config CONFIG ARGS -f json`` as a subprocess; its one JSON object."""
    import json
    import sys

    cowshed = Path(sys.executable).with_name("cowshed")
    out = subprocess.run([str(cowshed), "node", "--config", str(config), *args, "-f", "json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert isinstance(data, dict)
    return data
