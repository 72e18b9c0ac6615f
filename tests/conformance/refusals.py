"""Every optional protocol a backend does not claim is refused, never half-done."""

from __future__ import annotations

import pytest

from cowshed.backends.base import Backend, as_attach, as_clones, as_extend, as_snapshots
from cowshed.errors import UnsupportedOperation


class RefusalConformance:
    def test_unclaimed_protocols_are_refused(self, backend: Backend) -> None:
        caps = backend.capabilities
        checks = [(caps.snapshots, as_snapshots), (caps.clone, as_clones),
                  (caps.extend, as_extend), (caps.attach, as_attach)]
        for claimed, narrow in checks:
            if claimed:
                assert narrow(backend) is backend
            else:
                with pytest.raises(UnsupportedOperation):
                    narrow(backend)
        if caps.clone:
            assert caps.snapshots, "clones are made from snapshots"
