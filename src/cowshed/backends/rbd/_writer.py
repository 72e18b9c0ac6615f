"""Streaming, atomic writes of one RBD image.

Protocol (crash-safe at every step):

1. create the image under a private name ``.incoming.<key>.<random>`` (never a valid key, so
   ``exists``/``keys`` cannot see it);
2. write pieces that start on chunk boundaries, with at most ``rbd_write_concurrency``
   chunks' worth of ``aio_write`` calls in flight; all-zero regions are skipped when thin; with
   no size hint the image grows in steps that double from one chunk up to 8 GiB (glance_store's
   resize-on-write);
3. commit: wait for the writes, flush, trim to the bytes written, create and protect ``snap``,
   close, and **rename** to ``<key>`` — the rename is the publication.

Data path: a block that starts on a chunk boundary and is a whole number of chunks (uploads
and imports hand 8 MiB blocks, the default object size) goes to ``aio_write`` as the caller's own
``bytes``/``bytearray``, with no copy of ours; anything else is gathered in one chunk buffer.
Either way librbd copies the data inside ``aio_write`` (``rbd_disable_zero_copy_writes``, set
by ``_cluster``), so neither the buffer nor a caller's block is needed once the call returns.

Any failure in ``write`` or ``commit`` removes the incomplete image before the error is raised
(glance_store deletes the partial image on ``rbd.NoSpace`` the same way).

A crash before the rename leaves only an ``.incoming.`` image, which
:meth:`RbdBackend.cleanup_incomplete` removes once no client has it open.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from typing import Any

from cowshed.backends._zeros import nonzero_runs
from cowshed.backends.base import StoredObject
from cowshed.backends.rbd._cluster import SNAP_NAME, Cluster, incoming_name
from cowshed.backends.rbd._errors import error_for_errno, map_rbd_errors
from cowshed.errors import AlreadyExists, BackendUnavailable, InvalidRequest

log = logging.getLogger(__name__)

#: glance_store caps the resize-on-write step at 8 GiB.
MAX_GROW_STEP = 8 << 30


def whole_buffer(data: bytes | bytearray | memoryview) -> bytes | bytearray | None:
    """The ``bytes``/``bytearray`` that ``data`` is all of, which ``aio_write`` takes as it is;
    None for a slice or any other buffer (those are copied into the chunk buffer)."""
    if isinstance(data, (bytes, bytearray)):
        return data
    obj = data.obj
    if isinstance(obj, (bytes, bytearray)) and data.contiguous and data.nbytes == len(obj):
        return obj  # contiguous, inside obj and as long as obj: the same bytes
    return None


class _Inflight:
    """Bounds the aio writes in flight, in chunk-sized slots, and collects their errors.

    A write takes one slot per chunk it covers (rounded up), so at most ``limit`` chunks' worth
    of data is in flight however the writes are cut. Completion callbacks run on a librbd
    thread; they touch only this object (never the writer), so a dropped writer is freed at
    once and its image closed (see ``del writer``). Every wait gives up after ``timeout``
    seconds with BackendUnavailable: a stuck OSD must fail the write, not hang it.
    """

    def __init__(self, limit: int, timeout: float, what: str) -> None:
        self.limit = limit
        self.timeout = timeout
        self.what = what
        self._slots = threading.Semaphore(limit)
        self._lock = threading.Lock()
        self.errors: list[int] = []

    def acquire(self, slots: int) -> None:
        # Only the writer's thread acquires, and completions only release: taking the slots
        # one at a time cannot deadlock (``slots`` ≤ ``limit``).
        deadline = time.monotonic() + self.timeout
        for taken in range(slots):
            if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                if taken:
                    self._slots.release(taken)
                raise self._stuck()

    def done(self, slots: int, data: bytes | bytearray, completion: Any) -> None:
        """The completion of a write of ``data``, which was held until now."""
        ret = int(completion.get_return_value())
        if ret < 0:
            with self._lock:
                self.errors.append(ret)
        self._slots.release(slots)

    def release(self, slots: int) -> None:
        self._slots.release(slots)

    def drain(self) -> None:
        """Wait until nothing is in flight; BackendUnavailable after the timeout."""
        self.acquire(self.limit)
        self._slots.release(self.limit)

    def _stuck(self) -> BackendUnavailable:
        return BackendUnavailable(f"Ceph did not complete the writes of {self.what} within "
                                  f"{self.timeout:g} s (rbd_write_timeout)")


class RbdWriter:
    """A :class:`cowshed.backends.base.Writer` for one RBD image; not thread-safe."""

    def __init__(self, cluster: Cluster, key: str, size_hint: int | None, location: str) -> None:
        cfg = cluster.config
        self._cluster = cluster
        self._key = key
        self._location = location
        self._temp = incoming_name(key)
        self._chunk = cfg.chunk_bytes
        self._thin = cfg.rbd_thin_provisioning
        self._size = size_hint if size_hint is not None else self._chunk
        self._step = self._chunk
        # One chunk buffer, reused: librbd copies the data inside aio_write (we force
        # rbd_disable_zero_copy_writes), so it may be refilled as soon as the call returns.
        self._buf = bytearray(self._chunk)
        self._buf_view = memoryview(self._buf)  # slice assignment via memoryview is a memcpy
        self._fill = 0
        self._offset = 0  # bytes handed to librbd (or skipped as zeros) so far
        self._inflight = _Inflight(cfg.rbd_write_concurrency, cfg.rbd_write_timeout, repr(key))
        self._state = "open"
        self._image: Any = None
        with map_rbd_errors(f"creating image for {key!r}"):
            cluster.lib.rbd.RBD().create(
                cluster.ioctx(), self._temp, self._size, order=cfg.order, old_format=False
            )
        try:
            with map_rbd_errors(f"opening the new image for {key!r}"):
                self._image = cluster.lib.rbd.Image(cluster.ioctx(), self._temp)
        except BaseException:
            self._remove_temp()
            raise

    @property
    def bytes_written(self) -> int:
        return self._offset + self._fill

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; each full chunk goes to Ceph at once.

        A failure (StorageFull when Ceph is full, BackendUnavailable…) aborts the write first,
        so the partial image is already gone when the error reaches the caller.
        """
        if self._state != "open":
            raise InvalidRequest(f"write to {self._key!r} after commit or abort")
        try:
            self._raise_failed_writes()
            whole = self._whole_chunks(data)
            if whole is not None:
                self._dispatch(whole)
            else:
                self._append(memoryview(data).cast("B"))
        except BaseException:
            self.abort()
            raise

    def _whole_chunks(self, data: bytes | memoryview) -> bytes | bytearray | None:
        """``data`` as a buffer to send without copying it, when it is chunk-aligned: nothing
        is buffered (so the offset is on a chunk boundary), its length is a whole number of
        chunks, and at most the concurrency limit of them (a bigger block is cut through the
        buffer, so no single write exceeds the bound)."""
        if self._fill:
            return None
        n, chunk = data.nbytes if isinstance(data, memoryview) else len(data), self._chunk
        if not n or n % chunk or n > chunk * self._inflight.limit:
            return None
        return whole_buffer(data)

    def _append(self, view: memoryview) -> None:
        buf, chunk = self._buf_view, self._chunk
        while view:
            n = min(chunk - self._fill, len(view))
            buf[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == chunk:
                self._dispatch(self._buf)
                self._fill = 0

    def commit(self) -> StoredObject:
        """Finish the writes, snapshot, protect and publish under the key (see module doc)."""
        if self._state != "open":
            raise InvalidRequest(f"commit of {self._key!r} after commit or abort")
        try:
            size = self._finish_image()
            with map_rbd_errors(f"publishing {self._key!r}"):
                self._cluster.lib.rbd.RBD().rename(self._cluster.ioctx(), self._temp, self._key)
        except AlreadyExists as exc:
            self.abort()
            raise AlreadyExists(
                f"object {self._key!r} exists in store {self._cluster.store!r}"
            ) from exc
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        return StoredObject(key=self._key, size=size, location=self._location)

    def abort(self) -> None:
        """Drop the image being written; idempotent, and a no-op after a successful commit."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        try:
            self._inflight.drain()
        except BackendUnavailable as exc:
            # Writes still queued in librbd hold the image: closing it (or dropping the last
            # reference, which closes it) waits for them, forever with a stuck OSD. A daemon
            # thread does that wait and then removes the image; the caller goes on now.
            log.warning("leaving incomplete image %s to a background close: %s", self._temp,
                        exc.message)
            image, self._image = self._image, None
            threading.Thread(target=self._close_and_remove, args=(image,), daemon=True,
                             name=f"cowshed-rbd-abandon-{self._key[:8]}").start()
            return
        self._close_image()
        self._remove_temp()

    def _close_and_remove(self, image: Any) -> None:
        with contextlib.suppress(Exception):
            image.close()
        del image
        self._remove_temp()

    # -- internals ------------------------------------------------------------------------------

    def _dispatch(self, data: bytes | bytearray) -> None:
        """Send ``data`` at the current offset; when thin, only its non-zero runs."""
        offset = self._offset
        self._offset = offset + len(data)
        self._ensure_size(self._offset)
        if not self._thin:
            self._aio_write(data, offset)
            return
        for run in nonzero_runs(data):
            piece = data if len(run) == len(data) else data[run.start : run.stop]
            self._aio_write(piece, offset + run.start)

    def _aio_write(self, data: bytes | bytearray, offset: int) -> None:
        inflight = self._inflight
        slots = min(-(-len(data) // self._chunk), inflight.limit)
        inflight.acquire(slots)
        try:
            # The memoryview pins a caller's bytearray (it cannot be resized by another thread)
            # while librbd copies it with the GIL released.
            with memoryview(data), map_rbd_errors(f"writing {self._key!r}"):
                self._image.aio_write(data, offset, functools.partial(inflight.done, slots, data))
        except BaseException:
            inflight.release(slots)  # no completion will come for a write that was not queued
            raise

    def _ensure_size(self, end: int) -> None:
        """Grow the image (doubling steps, capped) so a write ending at ``end`` fits."""
        if end <= self._size:
            return
        new_size = max(end, self._size + self._step)
        self._step = min(self._step * 2, MAX_GROW_STEP)
        with map_rbd_errors(f"growing {self._key!r}"):
            self._image.resize(new_size)
        self._size = new_size

    def _raise_failed_writes(self) -> None:
        if self._inflight.errors:
            raise error_for_errno(self._inflight.errors[0], f"writing {self._key!r}")

    def _finish_image(self) -> int:
        """Flush, trim, snapshot+protect and close; returns the object's size."""
        if self._fill:
            tail, self._fill = bytes(self._buf_view[: self._fill]), 0
            self._dispatch(tail)
        self._inflight.drain()
        self._raise_failed_writes()
        size = self._offset
        image = self._image
        with map_rbd_errors(f"finishing {self._key!r}"):
            image.flush()
            if size != self._size:
                image.resize(size)
                self._size = size
            image.create_snap(SNAP_NAME)
            image.protect_snap(SNAP_NAME)
        self._close_image()
        return size

    def _close_image(self) -> None:
        image, self._image = self._image, None
        if image is not None:
            with contextlib.suppress(Exception):
                image.close()

    def _remove_temp(self) -> None:
        """Best effort: what fails here is left for ``cleanup_incomplete``."""
        try:
            remove_image(self._cluster, self._temp)
        except Exception as exc:
            log.warning("could not remove incomplete image %s: %s", self._temp, exc)


def remove_image(cluster: Cluster, name: str) -> None:
    """Unprotect and remove every snapshot of ``name``, then the image; missing is fine.

    Only for images nobody else may depend on (incomplete writes).
    """
    rbd = cluster.lib.rbd
    ioctx = cluster.ioctx()
    try:
        image = rbd.Image(ioctx, name)
    except rbd.ImageNotFound:
        return
    try:
        for snap in list(image.list_snaps()):
            if image.is_protected_snap(snap["name"]):
                image.unprotect_snap(snap["name"])
            image.remove_snap(snap["name"])
    finally:
        image.close()
    with contextlib.suppress(rbd.ImageNotFound):
        rbd.RBD().remove(ioctx, name)
