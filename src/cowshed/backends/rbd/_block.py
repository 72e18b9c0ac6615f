"""In-place reads and writes of one RBD image (a volume's head), through one open handle."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, Self

from cowshed.backends.rbd._errors import map_rbd_errors
from cowshed.errors import InvalidRequest


class RbdBlock:
    """A :class:`cowshed.backends.base.Block` over an open, writable ``rbd.Image``."""

    def __init__(self, image: Any, key: str) -> None:
        self._image: Any = image
        self._key = key
        with map_rbd_errors(f"reading the size of {key!r}"):
            self._size = int(image.size())

    @property
    def size(self) -> int:
        return self._size

    def _handle(self) -> Any:
        if self._image is None:
            raise InvalidRequest("block handle is closed")
        return self._image

    def read(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self._size - offset))
        if length == 0:
            return b""
        with map_rbd_errors(f"reading {self._key!r}"):
            return bytes(self._handle().read(offset, length))

    def write(self, offset: int, data: bytes | memoryview) -> None:
        if offset < 0 or offset + len(data) > self._size:
            raise InvalidRequest(f"write of {len(data)} bytes at {offset} is outside the object "
                                 f"({self._size} bytes)")
        with map_rbd_errors(f"writing {self._key!r}"):
            self._handle().write(bytes(data), offset)

    def flush(self) -> None:
        with map_rbd_errors(f"flushing {self._key!r}"):
            self._handle().flush()

    def close(self) -> None:
        image, self._image = self._image, None
        if image is None:
            return
        try:
            with map_rbd_errors(f"flushing {self._key!r}"):
                image.flush()
        finally:
            image.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            with contextlib.suppress(Exception):
                self.close()
