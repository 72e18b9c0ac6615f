"""Response bodies that can fail after the status line is out: abort, never truncate.

Once ``200`` and ``Content-Length`` are sent, a read error or data that ends early leaves one
honest answer: cutting the connection, so the client sees a short body (an error in every HTTP
client), never a complete-looking truncated one. ASGI has no "abort" message; raising into the
server is the way, and uvicorn then closes the connection. :class:`StreamAborted` marks that
deliberate raise: we log it once as a warning, and :func:`quiet_aborted_streams` keeps the server
from logging it again as a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

from cowshed.errors import CowshedError

log = logging.getLogger(__name__)


class StreamAborted(Exception):
    """A response body given up mid-way on purpose (see the module docstring)."""


async def checked_body(chunks: Iterator[bytes], length: int, what: str) -> AsyncIterator[bytes]:
    """``chunks`` (read in the blocking pool), raising StreamAborted unless exactly ``length``
    bytes arrive without error. Closes ``chunks`` when the client goes away early."""
    sent = 0
    try:
        while (block := await asyncio.to_thread(next, chunks, None)) is not None:
            sent += len(block)
            yield block
    except Exception as exc:
        reason = exc.message if isinstance(exc, CowshedError) else repr(exc)
        log.warning("%s: aborted after %d of %d bytes: %s", what, sent, length, reason)
        raise StreamAborted(what) from exc
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
    if sent != length:
        log.warning("%s: aborted after %d of %d bytes: the data ended early", what, sent, length)
        raise StreamAborted(what)


class _DropAborted(logging.Filter):
    """Drops the server's crash report for a deliberate abort, and for a request the server
    itself cancelled (a shutdown past ``shutdown_grace``): the request's own code has undone
    its work and logged one line saying so."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, (StreamAborted, asyncio.CancelledError)):
                return False
            exc = exc.__context__
        return True


def quiet_aborted_streams() -> None:
    """Keep uvicorn from logging deliberate aborts and cancellations as crashes (idempotent)."""
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropAborted) for f in server_log.filters):
        server_log.addFilter(_DropAborted())
