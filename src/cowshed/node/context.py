"""What every node operation shares: settings, paths, the cache, locks, qemu-img, the image
service client and (lazily) the Ceph connection and the key store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cowshed.config import Settings
from cowshed.formats.inspect import InspectorConfig
from cowshed.formats.qemu_img import QemuImg
from cowshed.node.cache import ImageCache
from cowshed.node.imageservice import ImageServiceClient
from cowshed.node.instances import InstanceStore
from cowshed.node.locks import LockDir
from cowshed.node.settings import NodeSettings

if TYPE_CHECKING:
    from cowshed.node.keys import KeyStore
    from cowshed.node.rbd import NodeRbd
    from cowshed.node.volumes import VolumeServiceClient


@dataclass
class NodeContext:
    """One per NodeManager; cheap to build (nothing connects until used)."""

    settings: Settings
    qemu: QemuImg
    instances_path: Path
    locks: LockDir
    cache: ImageCache
    store: InstanceStore
    _client: ImageServiceClient | None = field(default=None, repr=False)
    _rbd: NodeRbd | None = field(default=None, repr=False)
    _keys: KeyStore | None = field(default=None, repr=False)
    _volumes: VolumeServiceClient | None = field(default=None, repr=False)

    @property
    def node(self) -> NodeSettings:
        return self.settings.node

    @classmethod
    def build(cls, settings: Settings, qemu: QemuImg | None = None) -> NodeContext:
        node = settings.node
        path = node.resolve_instances_path(settings.data_dir)
        locks = LockDir(path / "locks")
        inspector = InspectorConfig(max_virtual_size=settings.max_virtual_size)
        qemu = qemu or QemuImg()
        cache = ImageCache(path, locks, qemu, force_raw=node.force_raw_images,
                           inspector=inspector)
        return cls(settings=settings, qemu=qemu, instances_path=path, locks=locks, cache=cache,
                   store=InstanceStore(path, locks))

    @property
    def client(self) -> ImageServiceClient:
        if self._client is None:
            self._client = ImageServiceClient(self.node.image_service_url,
                                              self.node.image_service_token)
        return self._client

    @property
    def rbd(self) -> NodeRbd:
        if self._rbd is None:
            from cowshed.node.rbd import NodeRbd

            self._rbd = NodeRbd(self.node)
        return self._rbd

    @property
    def volumes(self) -> VolumeServiceClient:
        if self._volumes is None:
            from cowshed.node.volumes import VolumeServiceClient

            self._volumes = VolumeServiceClient(self.node.volume_service_url,
                                                self.node.image_service_token)
        return self._volumes

    @property
    def keys(self) -> KeyStore:
        if self._keys is None:
            from cowshed.node.keys import KeyStore

            self._keys = KeyStore(self.node.resolve_key_file(self.instances_path),
                                  self.instances_path / "_keys")
        return self._keys

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._rbd is not None:
            self._rbd.close()
        if self._volumes is not None:
            self._volumes.close()
