"""web-download: URL filtering (schemes, hosts, ports, encoded IPs) and a redirect-checked fetch.

Every URL, including each redirect target, passes :func:`check_uri` before it is contacted, so a
redirect cannot lead the server somewhere the operator's filters forbid (Glance LP #2138602).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from cowshed.config import Settings
from cowshed.errors import BackendUnavailable, InvalidRequest

MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Download:
    """An open response body and what the server said about its size."""

    chunks: Iterator[bytes]
    size: int | None


def check_uri(uri: str, settings: Settings) -> None:
    """Raise InvalidRequest unless ``uri`` passes the operator's import filters."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"Invalid URI {uri!r}: {exc}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in settings.allowed_schemes or scheme in settings.disallowed_schemes:
        raise InvalidRequest(f"URI scheme {scheme!r} is not allowed for web-download")
    if not host:
        raise InvalidRequest(f"URI {uri!r} names no host")
    _check_host(host, settings)
    effective = port if port is not None else _DEFAULT_PORTS.get(scheme)
    if settings.allowed_ports and effective not in settings.allowed_ports:
        raise InvalidRequest(f"Port {effective} is not allowed for web-download")
    if effective in settings.disallowed_ports:
        raise InvalidRequest(f"Port {effective} is not allowed for web-download")


def _check_host(host: str, settings: Settings) -> None:
    if _NUMERIC_HOST.match(host) and any(c.isdigit() for c in host):
        try:
            canonical = str(ipaddress.ip_address(host)) == host
        except ValueError:
            canonical = False
        if not canonical:
            raise InvalidRequest(f"Host {host!r} looks like an encoded IP address; not allowed")
    if settings.allowed_hosts and host not in settings.allowed_hosts:
        raise InvalidRequest(f"Host {host!r} is not allowed for web-download")
    if host in settings.disallowed_hosts:
        raise InvalidRequest(f"Host {host!r} is not allowed for web-download")


@contextmanager
def open_download(uri: str, settings: Settings, timeout: float = 60.0) -> Iterator[Download]:
    """Open ``uri`` following at most MAX_REDIRECTS redirects, each re-checked."""
    with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
        current = uri
        for _ in range(MAX_REDIRECTS + 1):
            if current != uri:
                _check_redirect(uri, current, settings)
            else:
                check_uri(current, settings)
            try:
                # identity: Content-Length then counts the bytes we store
                with client.stream("GET", current,
                                   headers={"Accept-Encoding": "identity"}) as response:
                    if response.is_redirect:
                        current = urljoin(current, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise InvalidRequest(
                            f"web-download of {uri} failed: HTTP {response.status_code}"
                        )
                    yield Download(response.iter_bytes(8 << 20), _length(response))
                    return
            except httpx.HTTPError as exc:
                raise BackendUnavailable(f"web-download of {uri} failed: {exc}") from exc
        raise InvalidRequest(f"web-download of {uri}: more than {MAX_REDIRECTS} redirects")


def _check_redirect(uri: str, target: str, settings: Settings) -> None:
    try:
        check_uri(target, settings)
    except InvalidRequest as exc:
        raise InvalidRequest(f"web-download of {uri}: redirect to {target} refused: "
                             f"{exc.message}") from None


def _length(response: httpx.Response) -> int | None:
    """The size the server announced, unless it counts encoded bytes (a server that ignored
    ``Accept-Encoding: identity``): the decoded bytes are what is stored."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() else None
