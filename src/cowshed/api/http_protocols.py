"""The request-head limit: 431 past MAX_HEAD_BYTES, on every layer a head passes through.

uvicorn's httptools parser has no header limit at all: a 16 MiB header value was answered 200,
and four connections holding 64 MiB of unfinished headers each grew the server by 256 MiB.
Glance (eventlet) stops at 64 KiB. Three pieces enforce the same limit here:

* :class:`LimitedHttpToolsProtocol` (what ``cowshed serve`` runs) counts the bytes of a head
  that has not ended yet and, past the limit, answers 431 and closes: an unfinished head can
  no longer grow without bound, whether it arrives at once or one byte at a time;
* :class:`LimitedH11Protocol` answers h11's own refusal (``h11_max_incomplete_event_size``)
  with 431 instead of uvicorn's 400;
* :class:`HeadSizeGuard`, an ASGI middleware, refuses a *complete* head over the limit that a
  parser let through in one piece (h11 limits only incomplete events).
"""

from __future__ import annotations

import sys
from http import HTTPStatus

import h11
import httptools
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cowshed.api.errors import error_response

#: request line plus header fields, bytes (Glance's eventlet: 64 KiB).
MAX_HEAD_BYTES = 64 * 1024
_MESSAGE = f"The request line and header fields exceed {MAX_HEAD_BYTES} bytes."


def _head_too_large() -> bytes:
    """A complete 431 response in webob's plain-text error shape, closing the connection."""
    phrase = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE.phrase
    body = f"431 {phrase}\n\n{_MESSAGE}\n\n   ".encode()
    return (f"HTTP/1.1 431 {phrase}\r\ncontent-type: text/plain; charset=UTF-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on unfinished request heads."""

    _head_bytes = 0
    _in_body = False

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if not self._in_body:
            # every byte that arrives while no head has ended belongs to a head (pipelined
            # leftovers of a body are the one overcount, at most one read)
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # as uvicorn: cowshed serves no WebSocket
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._head_bytes > MAX_HEAD_BYTES:  # set by on_headers_complete's refusal
                self._refuse()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        if not self._in_body and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()

    def _refuse(self) -> None:
        self.logger.warning("request head over %d bytes refused (431)", MAX_HEAD_BYTES)
        self.transport.write(_head_too_large())
        self.transport.close()

    def on_headers_complete(self) -> None:
        # A head that ended within one read is measured exactly; over the limit it must not
        # reach uvicorn, whose URL parser fails on long targets (a 400 for our 431).
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > MAX_HEAD_BYTES:
            self._head_bytes = size
            raise _HeadTooLarge
        self._in_body, self._head_bytes = True, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body, self._head_bytes = False, 0
        super().on_message_complete()


class _HeadTooLarge(Exception):
    """Raised inside the parser's callback to stop it; httptools wraps it."""


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol answering h11's "head too large" refusal with 431, not 400."""

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this inside ``except h11.RemoteProtocolError``: that error tells why
        exc = sys.exc_info()[1]
        if isinstance(exc, h11.RemoteProtocolError) and exc.error_status_hint == 431:
            self.logger.warning("request head over the h11 limit refused (431)")
            self.transport.write(_head_too_large())
            self.transport.close()
            return
        super().send_400_response(msg)


class HeadSizeGuard:
    """Answer 431 to a complete request head over MAX_HEAD_BYTES (path, query and headers,
    counted as sent), before any route or middleware reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and head_size(scope) > MAX_HEAD_BYTES:
            response = error_response(None, 431, _MESSAGE, {"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def head_size(scope: Scope) -> int:
    """The bytes of a request head: method, target, version and ``name: value`` lines."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    fields = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
    return len(scope["method"]) + target + 12 + fields
