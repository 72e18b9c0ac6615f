"""The node disk manager: what Nova's libvirt image backends do on a hypervisor.

A base-image cache fed from any Glance-compatible image service (``cache``), instance disks on
the qcow2, raw, rbd and lvm backends (``disks``, ``rbd_disks``), the libvirt ``<disk>`` XML
(``xml``), snapshots back into the image service (``snapshot``), encrypted disks
(``encryption``), wipe on delete (``wipe``) and cache clean-up (``cleanup``). ``NodeManager``
(``manager``) is the library API the ``cowshed node`` command is a shell over.

This package imports nothing at import time beyond its settings, so ``cowshed.config`` can
import :mod:`cowshed.node.settings` cheaply.
"""
