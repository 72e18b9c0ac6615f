"""32 concurrent spawns of one uncached image, in 4 processes of 8 threads: one download."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx

from cowshed.node.cache import base_name
from tests.integration._server import Server
from tests.node.counting_proxy import counting_proxy
from tests.node.helpers import MiB, make_qcow2, read_at, upload_image, write_node_config

SCRIPT = """
import concurrent.futures, json, sys
from cowshed.config import load_settings
from cowshed.node.manager import NodeManager, SpawnRequest
config, image, prefix = sys.argv[1:4]
with NodeManager(load_settings(config_file=config, environ={})) as node:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        records = list(pool.map(lambda i: node.spawn(SpawnRequest(f"{prefix}-{i}", image)),
                                range(8)))
print(json.dumps([r.disk("disk").path for r in records]))
"""


def test_32_concurrent_spawns_download_once(node_dir: Path, image_server: Server,
                                            glance: httpx.Client) -> None:
    data = make_qcow2(node_dir / "i.qcow2", 64 * MiB, {0: 0x21, 40 * MiB: 0x22})
    image = upload_image(glance, data, "qcow2")
    with counting_proxy(image_server.url) as proxy:
        config = write_node_config(node_dir / "node.toml", image_service_url=proxy.url,
                                   instances_path=str(node_dir / "instances"))
        procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(config), image, f"p{n}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in range(4)]
        paths = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            paths += json.loads(out)
        assert proxy.data_gets == 1
    assert len(set(paths)) == 32
    for path in paths:
        assert read_at(Path(path), "qcow2", 40 * MiB, 8) == b"\x22" * 8
    base = node_dir / "instances" / "_base" / base_name(image)
    converted = subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw",
                                str(node_dir / "i.qcow2"), str(node_dir / "ref.raw")])
    assert converted.returncode == 0
    assert hashlib.sha256(base.read_bytes()).digest() == hashlib.sha256(
        (node_dir / "ref.raw").read_bytes()).digest()
