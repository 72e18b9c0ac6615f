"""Conformance of the AttachBackend protocol: connection facts for a hypervisor."""

from __future__ import annotations

import pytest

from cowshed.backends.base import Backend, as_attach
from cowshed.errors import NotFound
from tests.conformance.suite import MiB, new_key


class AttachConformance:
    def test_attach_info_names_the_object(self, backend: Backend) -> None:
        att = as_attach(backend)
        key = new_key()
        backend.create(key, MiB)
        info = att.attach_info(key)
        assert info.driver_volume_type in {"rbd", "file"}
        if info.driver_volume_type == "rbd":
            assert str(info.data["name"]).endswith(f"/{key}")
            assert info.data["hosts"] and len(info.data["hosts"]) == len(info.data["ports"])
            assert info.data["secret_uuid"]
        else:
            assert info.data["path"] == backend.local_path(key)
        with pytest.raises(NotFound):
            att.attach_info(new_key())
