"""One volume environment per backend: a deployment whose default volume type is a ``file``
backend (qcow2 overlays, real qemu-img) or an ``rbd`` backend (a fresh pool on the real Ceph
cluster), with helpers that write and check guest data the way a hypervisor sees it.

Data is written and checked as byte patterns: on RBD through librbd (the volume's own bytes), on
files through ``qemu-io`` on the qcow2 chain (the guest view, backing files included).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cowshed.config import Settings, load_settings
from cowshed.dev.ceph import DevCephCluster
from cowshed.domain.volumes import Caller, Snapshot, Volume
from cowshed.services.app import Services, open_services
from tests.integration.conftest import ceph_cluster
from tests.reflink import reflink_dir

__all__ = ["ceph_cluster", "reflink_dir"]
#: the three ways a volume type stores volumes, for tests that run on each.
ALL_KINDS = ["file", "reflink", pytest.param("rbd", marks=pytest.mark.ceph)]

MiB = 1 << 20
CALLER = Caller(project_id="p1", user_id="u1")
ADMIN = Caller(project_id="p1", user_id="admin", is_admin=True)


@dataclass
class VolumeEnv:
    """A running deployment with one volume type, and guest-data helpers for it."""

    services: Services
    kind: str
    cluster: DevCephCluster | None = None
    pool: str | None = None
    #: ids of the volumes this test made (the RBD pool is shared by a module's tests).
    created: set[str] = field(default_factory=set)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.services.volumes.rt.store(self.services.settings.volume_type_default)

    def _path(self, key: str) -> str:
        path = self.store.backend.local_path(key)
        assert path is not None
        return str(path)

    @property
    def raw(self) -> bool:
        """Volumes are raw objects read and written through the backend (RBD, reflink files)."""
        return self.kind in ("rbd", "reflink")

    def write(self, volume: Volume, offset: int, length: int, byte: int) -> None:
        if self.raw:
            with self.store.backend.open_block(volume.backend_key) as block:
                block.write(offset, bytes([byte]) * length)
            return
        _qemu_io(self._path(volume.backend_key), f"write -P {byte} {offset} {length}")

    def holds(self, volume: Volume, offset: int, length: int, byte: int) -> bool:
        """The volume's guest data at ``offset`` is ``length`` bytes of ``byte``."""
        if self.raw:
            data = b"".join(self.store.backend.open_read(volume.backend_key, offset, length))
            return data == bytes([byte]) * length
        return _qemu_io(self._path(volume.backend_key), f"read -P {byte} {offset} {length}",
                        check=False)

    def snapshot_holds(self, snap: Snapshot, offset: int, length: int, byte: int) -> bool:
        volume = self.services.volumes.rt.db.get_volume(snap.volume_id)
        if self.raw:
            data = b"".join(self.store.backend.open_snapshot_read(
                volume.backend_key, snap.backend_snap, offset, length))
            return data == bytes([byte]) * length
        frozen = self._path(f"{volume.backend_key}.{snap.backend_snap}")
        return _qemu_io(frozen, f"read -P {byte} {offset} {length}", check=False)

    def independent(self, volume: Volume) -> bool:
        """No parent, as the backend's own tool reports it (``rbd info`` / ``qemu-img info
        --backing-chain``)."""
        if self.kind == "reflink":
            return self.store.parent(volume.backend_key) is None
        if self.kind == "rbd":
            assert self.cluster is not None
            info = _rbd_json(self.cluster, "info", f"{self.pool}/{volume.backend_key}")
            return "parent" not in info
        out = subprocess.run(["qemu-img", "info", "-f", "qcow2", "--backing-chain",
                              "--output=json", self._path(volume.backend_key)],
                             capture_output=True, text=True, check=True, timeout=60)
        own = Path(self._path(volume.backend_key)).name
        # the chain may hold the volume's own snapshot files (``<key>.<snap>``), nothing else
        return all(Path(layer["filename"]).name in (own,) or
                   Path(layer["filename"]).name.startswith(own + ".")
                   for layer in json.loads(out.stdout))

    def objects(self) -> list[str]:
        """Everything left in the pool or directory (volume objects, snapshots, files)."""
        if self.kind == "rbd":
            assert self.cluster is not None
            names = _rbd_json(self.cluster, "ls", "-l", str(self.pool))
            assert isinstance(names, list)
            found = [f"{n['image']}@{n['snapshot']}" if "snapshot" in n else n["image"]
                     for n in names]
            return sorted(n for n in found if any(i in n for i in self.created))
        root = Path(self.store.backend.root)
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if p.is_file() and ".incoming" not in p.parts and ".locks" not in p.parts)


def _qemu_io(path: str, command: str, check: bool = True) -> bool:
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, path],
                         capture_output=True, text=True, timeout=120, check=False)
    ok = out.returncode == 0 and "fail" not in out.stdout.lower() \
        and "error" not in out.stderr.lower()
    if check:
        assert ok, out.stdout + out.stderr
    return ok


def _rbd_json(cluster: DevCephCluster, *args: str) -> object:
    out = subprocess.run(["rbd", "-c", str(cluster.conf_path), *args, "--format", "json"],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout or "null")


def _config(tmp: Path, body: str) -> Path:
    conf = tmp / "cowshed.toml"
    conf.write_text(body)
    return conf


def open_env(tmp: Path, kind: str, extra: str = "", cluster: DevCephCluster | None = None,
             pool: str | None = None, reflink: Path | None = None) -> VolumeEnv:
    if kind == "rbd":
        assert cluster is not None and pool is not None
        # images in the cluster's "images" pool: raw images are cloned, not copied
        body = (f'default_volume_type = "ceph"\ndefault_backend = "ceph"\n'
                f'[stores.ceph]\ntype = "rbd"\nrbd_store_pool = "images"\n'
                f'rbd_store_ceph_conf = "{cluster.conf_path}"\nrados_connect_timeout = 30\n'
                f'[volume_backends.ceph]\ntype = "rbd"\n'
                f'rbd_pool = "{pool}"\nrbd_ceph_conf = "{cluster.conf_path}"\n'
                f'rados_connect_timeout = 30\n{extra}')
    else:
        where = reflink if kind == "reflink" and reflink is not None else tmp / "volumes"
        body = (f'default_volume_type = "local"\n[volume_backends.local]\ntype = "file"\n'
                f'volumes_dir = "{where}"\n{extra}')
    _config(tmp, body)
    return VolumeEnv(open_services(env_settings(tmp)), kind, cluster, pool)


def env_settings(data_dir: Path) -> Settings:
    """The settings of an environment's data dir (its ``cowshed.toml``)."""
    return load_settings(data_dir=data_dir, environ={})


@pytest.fixture(scope="module")
def volume_pool(request: pytest.FixtureRequest) -> Iterator[str]:
    """One RBD pool per test module (creating a pool per test costs seconds)."""
    cluster: DevCephCluster = request.getfixturevalue("ceph_cluster")
    name = f"v-{uuid.uuid4().hex[:12]}"
    cluster.create_pool(name)
    try:
        yield name
    finally:
        cluster.delete_pool(name)


@pytest.fixture(params=["file", pytest.param("rbd", marks=pytest.mark.ceph)])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env_factory(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
                ) -> Iterator[object]:
    """``env_factory(extra_toml="")`` opens the environment (once per test)."""
    opened: list[VolumeEnv] = []

    def make(max_clone_depth: int | None = None, flatten_from_snapshot: bool = False
             ) -> VolumeEnv:
        prefix = "rbd_" if backend_kind == "rbd" else ""
        extra = ""
        if max_clone_depth is not None:
            extra += f"{prefix}max_clone_depth = {max_clone_depth}\n"
        if flatten_from_snapshot:
            extra += f"{prefix}flatten_volume_from_snapshot = true\n"
        cluster = pool = reflink = None
        if backend_kind == "rbd":
            cluster = request.getfixturevalue("ceph_cluster")
            pool = request.getfixturevalue("volume_pool")
        if backend_kind == "reflink":  # a fresh directory on the loop-mounted XFS
            reflink = Path(request.getfixturevalue("reflink_dir")) / uuid.uuid4().hex
        env = open_env(tmp_path, backend_kind, extra, cluster, pool, reflink)
        opened.append(env)
        return env
    yield make
    for env in opened:
        env.services.close()


@pytest.fixture
def env(env_factory) -> VolumeEnv:  # type: ignore[no-untyped-def]
    return env_factory()  # type: ignore[no-any-return]

