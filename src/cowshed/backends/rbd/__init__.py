"""Ceph RBD backend (glance_store's RBD driver semantics, through librbd's Python bindings).

The ``rados``/``rbd`` modules are imported only by :meth:`RbdBackend.from_options`, so importing
this package works on hosts without Ceph.
"""

from cowshed.backends.rbd._config import RbdConfig
from cowshed.backends.rbd._errors import map_rbd_errors
from cowshed.backends.rbd.backend import RbdBackend

__all__ = ["RbdBackend", "RbdConfig", "map_rbd_errors"]
