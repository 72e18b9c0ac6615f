"""web-download's connections (httpcore): the guarded backend, the metered stream, the hops.

Imported by :func:`cowshed.services.images.webdownload.open_download` when a download opens;
the rules these enforce are described there.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urljoin

import httpcore

from cowshed.config import Settings
from cowshed.errors import BackendUnavailable, CowshedError, InvalidRequest
from cowshed.services.images.url_filter import (
    AddressPolicy,
    IPAddress,
    Target,
    check_target,
    check_uri,
    parse_target,
)
from cowshed.services.images.webdownload import Download, DownloadLimits, Resolver

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BLOCK = 8 << 20
_USER_AGENT = b"cowshed-web-download"
#: request targets keep printable ASCII as sent and percent-encode the rest (UTF-8)
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))


class _Meter:
    """The deadline and minimum rate of one download, checked on every socket read."""

    def __init__(self, limits: DownloadLimits, uri: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.uri = uri
        self._clock = clock
        start = clock()
        self._deadline = start + limits.deadline
        self._mark = (start, 0)
        self.received = 0

    def timeout(self, asked: float | None) -> float:
        """The timeout for one socket operation: never past the deadline, never longer than
        a rate window (a silent peer is as slow as a trickling one)."""
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise self._past_deadline()
        bound = min(remaining, self.limits.window)
        return bound if asked is None else min(asked, bound)

    def count(self, n: int) -> None:
        self.received += n
        now = self._clock()
        if now > self._deadline:
            raise self._past_deadline()
        since, mark_bytes = self._mark
        if now - since >= self.limits.window:
            if self.received - mark_bytes < self.limits.min_rate * (now - since):
                raise self._too_slow(self.received - mark_bytes, now - since)
            self._mark = (now, self.received)

    def failure(self, exc: Exception) -> CowshedError:
        """The error for a failed socket operation (a timeout is the peer's slowness)."""
        if isinstance(exc, httpcore.TimeoutException):
            if self._clock() >= self._deadline:
                return self._past_deadline()
            return self._too_slow(0, self.limits.window)
        return BackendUnavailable(f"web-download of {self.uri} failed: {exc!r}")

    def _past_deadline(self) -> InvalidRequest:
        return InvalidRequest(f"web-download of {self.uri}: not finished within the deadline "
                              f"of {self.limits.deadline:g} s (web_download_deadline)")

    def _too_slow(self, got: int, seconds: float) -> InvalidRequest:
        return InvalidRequest(
            f"web-download of {self.uri}: {got} bytes in {seconds:.1f} s is slower than the "
            f"minimum rate of {self.limits.min_rate} bytes/s (web_download_min_rate)")


class _MeteredStream(httpcore.NetworkStream):
    """A connection whose every read and write is bounded and counted by the meter."""

    def __init__(self, inner: httpcore.NetworkStream, meter: _Meter) -> None:
        self._inner = inner
        self._meter = meter

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, self._meter.timeout(timeout))
        self._meter.count(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._meter.timeout(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, self._meter.timeout(timeout))
        return _MeteredStream(tls, self._meter)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, judges every address, connects to a judged address, judges the peer."""

    def __init__(self, policy: AddressPolicy, meter: _Meter, resolver: Resolver) -> None:
        self._inner = httpcore.SyncBackend()
        self._policy = policy
        self._meter = meter
        self._resolve = resolver

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = self._resolve(host, port)
        # all of them first: a name that resolves to a public and a loopback address is
        # refused, whichever one a connect would have reached
        for address in addresses:
            self._check(address, host)
        error: Exception = BackendUnavailable(f"web-download: {host!r} has no address")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(str(address), port, self._meter.timeout(timeout),
                                                 local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
                continue
            self._check_peer(stream, host)
            return _MeteredStream(stream, self._meter)
        raise error

    def _check(self, address: IPAddress, host: str) -> None:
        try:
            self._policy.check_address(address, host)
        except InvalidRequest as exc:
            raise InvalidRequest(f"web-download of {self._meter.uri}: connection to {address} "
                                 f"refused: {exc.message}") from None

    def _check_peer(self, stream: httpcore.NetworkStream, host: str) -> None:
        try:
            peer = str(stream.get_extra_info("server_addr")[0]).split("%", 1)[0]
            self._check(ipaddress.ip_address(peer), host)
        except BaseException:
            stream.close()
            raise

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise InvalidRequest("web-download never connects to a local socket")


@contextmanager
def fetch(uri: str, settings: Settings, resolver: Resolver) -> Iterator[Download]:
    """Open ``uri``, following at most MAX_REDIRECTS redirects, every hop filtered;
    ``resolver`` names the addresses of a host."""
    target = check_uri(uri, settings)
    meter = _Meter(DownloadLimits.from_settings(settings), uri)
    backend = _GuardedBackend(AddressPolicy.from_settings(settings), meter, resolver)
    timeouts = {"connect": meter.limits.connect_timeout, "read": meter.limits.window,
                "write": meter.limits.window, "pool": meter.limits.window}
    with httpcore.ConnectionPool(ssl_context=ssl.create_default_context(),
                                 network_backend=backend, max_connections=1) as pool:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with pool.stream("GET", _request_url(target), headers=_headers(target),
                                 extensions={"timeout": timeouts}) as response:
                    if response.status in _REDIRECTS:
                        target = _next_hop(uri, target, response, settings)
                        continue
                    if response.status != 200:
                        raise InvalidRequest(f"web-download of {uri} failed: "
                                             f"HTTP {response.status}")
                    _refuse_encoded(uri, response)
                    yield Download(_blocks(response.iter_stream()), _length(response))
                    return
            except (httpcore.TimeoutException, httpcore.NetworkError,
                    httpcore.ProtocolError) as exc:
                raise meter.failure(exc) from exc
        raise InvalidRequest(f"web-download of {uri}: more than {MAX_REDIRECTS} redirects")


def _request_url(target: Target) -> httpcore.URL:
    return httpcore.URL(scheme=target.scheme.encode(), host=target.host.encode("ascii"),
                        port=target.port, target=quote(target.path, safe=_PRINTABLE).encode())


def _headers(target: Target) -> list[tuple[bytes, bytes]]:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = {"http": 80, "https": 443}[target.scheme]
    if target.port != default:
        host = f"{host}:{target.port}"
    # identity: the bytes sent are the bytes stored, and Content-Length counts them
    return [(b"Host", host.encode("ascii")), (b"Accept-Encoding", b"identity"),
            (b"User-Agent", _USER_AGENT)]


def _header(response: httpcore.Response, name: bytes) -> list[str]:
    return [_text(v) for k, v in response.headers if k.lower() == name]


def _text(value: bytes) -> str:
    """A header value as browsers read a Location: UTF-8, else Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _next_hop(uri: str, current: Target, response: httpcore.Response,
              settings: Settings) -> Target:
    location = (_header(response, b"location") or [""])[0]
    joined = urljoin(current.url, location)
    try:
        target = parse_target(joined)
        check_target(target, settings)
    except InvalidRequest as exc:
        raise InvalidRequest(f"web-download of {uri}: redirect to {joined} refused: "
                             f"{exc.message}") from None
    return target


def _refuse_encoded(uri: str, response: httpcore.Response) -> None:
    codings = [c.strip().lower() for v in _header(response, b"content-encoding")
               for c in v.split(",") if c.strip()]
    if any(c != "identity" for c in codings):
        raise InvalidRequest(
            f"web-download of {uri}: the server sent Content-Encoding {', '.join(codings)} "
            "although only identity was accepted; encoded bodies are refused, never decoded")


def _length(response: httpcore.Response) -> int | None:
    values = _header(response, b"content-length")
    if len(values) != 1 or not values[0].strip().isdigit() or len(values[0].strip()) > 19:
        return None
    return int(values[0])


def _blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The body in blocks of about _BLOCK bytes (fewer, larger writes and hash updates)."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        if len(held) >= _BLOCK:
            yield bytes(held)
            held.clear()
    if held:
        yield bytes(held)
