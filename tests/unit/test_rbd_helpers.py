"""Pure helpers of the RBD backend: names, locations, zero detection, errno translation."""

from __future__ import annotations

import array
import errno
import os
import sys

import pytest

from cowshed.backends._zeros import ZERO_GRAIN, nonzero_runs
from cowshed.backends.rbd._cluster import (
    check_key,
    incoming_name,
    is_incoming,
    is_key,
    rbd_uri,
)
from cowshed.backends.rbd._errors import error_for_errno
from cowshed.backends.rbd._writer import whole_buffer
from cowshed.errors import (
    AlreadyExists,
    BackendUnavailable,
    BackendUnreachable,
    InUse,
    InvalidRequest,
    NotFound,
    StorageFull,
)


def test_incoming_names_are_never_keys() -> None:
    name = incoming_name("abc-123")
    assert is_incoming(name)
    assert not is_key(name)
    assert incoming_name("abc-123") != name
    assert not is_incoming("abc-123")
    with pytest.raises(InvalidRequest):
        check_key(name)
    for bad in ("", "a/b", "a@b", ".hidden", "x" * 300):
        assert not is_key(bad)


def test_location_percent_encodes_every_component() -> None:
    assert rbd_uri("f", "images", "k", "snap") == "rbd://f/images/k/snap"
    assert rbd_uri("f s", "po/ol", "k%", "sn@p") == "rbd://f%20s/po%2Fol/k%25/sn%40p"
    assert rbd_uri("f", "images", "k", None) == "rbd://f/images/k"


def test_nonzero_runs() -> None:
    zeros = bytes(ZERO_GRAIN)
    data = os.urandom(ZERO_GRAIN)
    assert nonzero_runs(zeros * 4) == []
    assert nonzero_runs(data * 4) == [range(0, 4 * ZERO_GRAIN)]
    chunk = data + zeros + zeros + data + b"\0\0\1"
    assert nonzero_runs(chunk) == [
        range(0, ZERO_GRAIN), range(3 * ZERO_GRAIN, len(chunk))]
    # a grain whose first and last bytes are zero but whose middle is not is data
    tricky = b"\0" + b"\1" * (ZERO_GRAIN - 2) + b"\0"
    assert nonzero_runs(zeros + tricky) == [range(ZERO_GRAIN, 2 * ZERO_GRAIN)]


def test_whole_buffer_is_the_callers_object_or_none() -> None:
    data, mutable = b"abcdef", bytearray(b"abcdef")
    assert whole_buffer(data) is data
    assert whole_buffer(mutable) is mutable
    assert whole_buffer(memoryview(data)) is data
    assert whole_buffer(memoryview(mutable)[:6].cast("B")) is mutable
    assert whole_buffer(memoryview(mutable).toreadonly()) is mutable
    # anything that is not all of a bytes/bytearray needs a copy
    assert whole_buffer(memoryview(data)[1:]) is None
    assert whole_buffer(memoryview(data)[:-1]) is None
    assert whole_buffer(memoryview(data)[::-1]) is None
    assert whole_buffer(memoryview(array.array("B", data))) is None
    assert whole_buffer(memoryview(array.array("i", [1, 2])).cast("B")) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-errno.ENOENT, NotFound),
        (errno.EEXIST, AlreadyExists),
        (-errno.EBUSY, InUse),
        (-errno.ENOSPC, StorageFull),
        (-errno.EDQUOT, StorageFull),
        (-errno.ETIMEDOUT, BackendUnreachable),
        (-errno.EIO, BackendUnavailable),
    ],
)
def test_errno_translation(code: int, expected: type[Exception]) -> None:
    error = error_for_errno(code, "writing 'k'")
    assert type(error) is expected
    assert error.message.startswith("writing 'k': ")


def test_missing_bindings_is_a_config_error_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cowshed.backends.registry import load_backend
    from cowshed.errors import ConfigError

    monkeypatch.setitem(sys.modules, "rados", None)  # makes ``import rados`` fail
    monkeypatch.setitem(sys.modules, "rbd", None)
    with pytest.raises(ConfigError, match="python3-rados"):
        load_backend("rbd", "ceph", {})


def test_the_node_names_the_same_bindings_command_as_the_stores(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A node with ``images_type = 'rbd'`` and no bindings says how to get them into *this*
    interpreter (the command tests/integration/test_startup_errors.py runs as written)."""
    import importlib

    from cowshed.backends.rbd._cluster import bindings_hint
    from cowshed.errors import ConfigError
    from cowshed.node import rbd as node_rbd

    def missing(name: str) -> object:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ConfigError) as caught:
        node_rbd._bindings()
    assert caught.value.message.endswith(bindings_hint())
    assert f"{sys.executable} -m cowshed.dev.ceph_bindings" in caught.value.message
