"""The options of an RBD store, named as in glance_store's RBD driver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cowshed.backends._options import parse_options

MiB = 1 << 20
#: librbd accepts objects of 2**12 … 2**25 bytes; the chunk size is given in whole MiB.
_MAX_CHUNK_MIB = 32
_MAX_WRITE_CONCURRENCY = 64


@dataclass(frozen=True)
class RbdConfig:
    """Validated options of one RBD store.

    Differences from glance_store, on purpose:

    * ``rbd_thin_provisioning`` defaults to True: all-zero chunks are not written, so a sparse
      image costs only its data in Ceph (glance_store defaults to False). The data read back is
      the same either way.
    * ``rbd_write_concurrency`` (ours) bounds the ``aio_write`` calls in flight per upload.
    * A chunk size that is not a power of two is rounded down to one (glance_store does the same
      for the object order, but reads and writes with the unrounded size).
    """

    #: pool holding the images.
    rbd_store_pool: str = "images"
    #: the RADOS user (``rados_id``); None lets librados decide (``client.admin``).
    rbd_store_user: str | None = None
    #: path of ceph.conf; empty means librados' default search (``/etc/ceph/ceph.conf`` …).
    rbd_store_ceph_conf: str = ""
    #: MiB per RBD object and per read/write chunk (sets the image ``order``).
    rbd_store_chunk_size: int = 8
    #: seconds; ≥0 sets rados_osd_op_timeout, rados_mon_op_timeout and client_mount_timeout.
    rados_connect_timeout: int = -1
    #: skip writing all-zero chunks.
    rbd_thin_provisioning: bool = True
    #: writes in flight per upload.
    rbd_write_concurrency: int = 4
    #: seconds a write may wait for Ceph to complete earlier writes (a slot, or all of them at
    #: commit and abort) before it fails with BackendUnavailable; a stuck OSD then fails the
    #: upload instead of hanging it forever.
    rbd_write_timeout: int = 300

    def __post_init__(self) -> None:
        if not self.rbd_store_pool:
            raise ValueError("rbd_store_pool must not be empty")
        if not 1 <= self.rbd_store_chunk_size <= _MAX_CHUNK_MIB:
            raise ValueError(f"rbd_store_chunk_size must be 1…{_MAX_CHUNK_MIB} (MiB)")
        if self.rados_connect_timeout < -1:
            raise ValueError("rados_connect_timeout must be -1 (librados default) or ≥ 0")
        if self.rbd_write_timeout < 1:
            raise ValueError("rbd_write_timeout must be at least 1 (seconds)")
        if not 1 <= self.rbd_write_concurrency <= _MAX_WRITE_CONCURRENCY:
            raise ValueError(f"rbd_write_concurrency must be 1…{_MAX_WRITE_CONCURRENCY}")

    @classmethod
    def from_options(cls, store: str, options: Mapping[str, object]) -> RbdConfig:
        """Parse a store's option table; ConfigError on unknown keys, wrong types or values."""
        return parse_options(store, cls, options)

    @property
    def order(self) -> int:
        """log2 of the RBD object size."""
        return (self.rbd_store_chunk_size * MiB).bit_length() - 1

    @property
    def chunk_bytes(self) -> int:
        """Bytes per object, per write and per read."""
        return 1 << self.order

    def rados_conf(self) -> dict[str, str]:
        """Extra librados settings implied by ``rados_connect_timeout``."""
        if self.rados_connect_timeout < 0:
            return {}
        timeout = str(self.rados_connect_timeout)
        return {
            "rados_osd_op_timeout": timeout,
            "rados_mon_op_timeout": timeout,
            "client_mount_timeout": timeout,
        }
