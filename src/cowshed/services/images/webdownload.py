"""web-download: a hop-by-hop fetch that connects only where the filters allow, within limits.

* **Where.** Every hop's URL is parsed into one normal form and filtered
  (:mod:`cowshed.services.images.url_filter`); the connection is made by ``_GuardedBackend``,
  which resolves the name itself, judges every address (and the peer actually connected to),
  then connects to that address: no second resolution happens, so DNS rebinding cannot switch
  the address between check and connect, and a redirect gets the same treatment (Glance
  LP #2138602).
* **What.** Bodies are read raw (httpcore decodes nothing) and a ``Content-Encoding`` other
  than identity is refused: 1.8 KB of gzip on the wire must not become a 1 GiB image.
* **How long.** ``_Meter`` enforces, on every socket read, an overall deadline and a
  minimum rate per window: a sender at 1 byte/s cannot hold an import worker (per-read
  timeouts alone never fire on a trickle).

``_GuardedBackend``, ``_Meter`` and the hops are in :mod:`.webdownload_net` (httpcore),
imported when a download opens: a process that never downloads (the CLI) does not load httpcore.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cowshed.config import Settings
from cowshed.errors import BackendUnavailable
from cowshed.services.images.url_filter import IPAddress, check_uri

__all__ = ["Download", "DownloadLimits", "check_uri", "open_download", "resolve"]


@dataclass(frozen=True)
class Download:
    """An open response body (raw bytes, as sent) and the size the server announced."""

    chunks: Iterator[bytes]
    size: int | None


@dataclass(frozen=True)
class DownloadLimits:
    """``deadline``: seconds for the whole download, every hop, headers and body included;
    ``min_rate`` bytes per second, averaged over each ``window`` seconds."""

    deadline: float
    min_rate: int
    window: float
    connect_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadLimits:
        return cls(float(settings.web_download_deadline), settings.web_download_min_rate,
                   float(settings.web_download_rate_window))


Resolver = Callable[[str, int], list[IPAddress]]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BackendUnavailable(f"web-download: cannot resolve {host!r}: {exc}") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@contextmanager
def open_download(uri: str, settings: Settings, *,
                  resolver: Resolver | None = None) -> Iterator[Download]:
    """Open ``uri``, following at most ``webdownload_net.MAX_REDIRECTS`` redirects, every hop
    filtered.
    ``resolver`` (default: :func:`resolve`, the system's) names the addresses of a host."""
    from cowshed.services.images.webdownload_net import fetch

    with fetch(uri, settings, resolver or resolve) as download:
        yield download
