"""web-download URL filtering: one parse, one normal form, and a check of the address connected to.

Glance's ``[import_filtering_opts]`` compare host *strings*, which a red-team pass walked
around with other spellings of one address (``[::ffff:127.0.0.1]``, ``[0::1]``, ``[::]``,
``127。0。0。1``…). Here:

* :func:`parse_target` turns a URI into a :class:`Target` whose host is in one normal form
  (NFKC, IDNA separators, IDNA/UTS-46 to ASCII, lower case, no trailing dot), and the fetch
  uses exactly that host, so what is checked is what is contacted;
* :func:`check_target` applies the scheme, port and host-name filters (at request time and for
  every redirect hop);
* :class:`AddressPolicy` judges the IP address a connection is about to use and did use
  (``webdownload`` calls it at connect time, after its own DNS resolution), in every form the
  address stands for: an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address is also
  judged as its IPv4 address. ``disallowed_hosts`` / ``allowed_hosts`` entries may be names,
  addresses or networks (``10.0.0.0/8``); an entry naming a loopback address (or
  ``localhost``) stands for all of loopback, since every loopback address reaches the same
  host (written with a prefix, ``127.0.0.1/32``, it means just that network). The unspecified
  addresses (``0.0.0.0/8``, ``::``), which connect to the local host, are always refused.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from cowshed.config import Settings
from cowshed.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)
#: label separators IDNA (UTS-46) reads as "." that NFKC leaves alone
_DOTS = {0x3002: ".", 0xFF61: ".", 0xFF0E: "."}
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_UNSPECIFIED = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class Target:
    """A URL in normal form. ``host`` is ASCII, without brackets; ``address`` is set when the
    host is an IP literal; ``path`` is the request target (path and query)."""

    scheme: str
    host: str
    port: int
    path: str
    address: IPAddress | None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_target(uri: str) -> Target:
    """Parse and normalise ``uri``; InvalidRequest for anything unusable."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"Invalid URI {uri!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidRequest(f"URI scheme {scheme!r} is not allowed for web-download")
    host = normalise_host(parts.hostname or "")
    if not host:
        raise InvalidRequest(f"URI {uri!r} names no host")
    address = _literal(host)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, str(address) if address else host,
                  port if port is not None else _DEFAULT_PORTS[scheme], path, address)


def normalise_host(raw: str) -> str:
    """The one spelling of a host name: NFKC (full-width digits and dots become ASCII), IDNA
    separators as ".", non-ASCII labels to punycode (UTS-46), lower case, no trailing dot."""
    host = unicodedata.normalize("NFKC", raw).translate(_DOTS).lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidRequest(f"Host {raw!r} is not a valid host name: {exc}") from None


def _literal(host: str) -> IPAddress | None:
    """The address an IP-literal host names; InvalidRequest for the encoded forms a resolver
    would also accept (``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``127.1``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise InvalidRequest(f"Host {host!r}: scoped IPv6 addresses are not allowed")
    if address is not None:
        return address
    if _NUMERIC_HOST.match(host) and any(c.isdigit() for c in host):
        raise InvalidRequest(f"Host {host!r} looks like an encoded IP address; not allowed")
    return None


def check_target(target: Target, settings: Settings) -> None:
    """Scheme, port and host-name filters, plus the address filters for an IP literal."""
    scheme = target.scheme
    if scheme not in settings.allowed_schemes or scheme in settings.disallowed_schemes:
        raise InvalidRequest(f"URI scheme {scheme!r} is not allowed for web-download")
    if settings.allowed_ports and target.port not in settings.allowed_ports:
        raise InvalidRequest(f"Port {target.port} is not allowed for web-download")
    if target.port in settings.disallowed_ports:
        raise InvalidRequest(f"Port {target.port} is not allowed for web-download")
    policy = AddressPolicy.from_settings(settings)
    policy.check_name(target.host)
    if target.address is not None:
        policy.check_address(target.address, target.host)


def check_uri(uri: str, settings: Settings) -> Target:
    """Parse ``uri`` and apply every filter that needs no DNS; returns the normal form."""
    target = parse_target(uri)
    check_target(target, settings)
    return target


@dataclass(frozen=True)
class _Rules:
    """One host list: names, networks, and whether it covers loopback."""

    names: frozenset[str]
    networks: tuple[IPNetwork, ...]
    loopback: bool

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> _Rules:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        loopback = False
        for entry in (e.strip() for e in entries):
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                names.add(normalise_host(entry))
                continue
            networks.append(network)
            # a bare loopback address stands for all of loopback (every loopback address
            # reaches the same host); a network written with its prefix means just that
            loopback = loopback or ("/" not in entry and network.network_address.is_loopback)
        loopback = loopback or bool(names & _LOOPBACK_NAMES)
        if loopback:
            networks.extend(_LOOPBACK)
        return cls(frozenset(names), tuple(networks), loopback)

    @property
    def empty(self) -> bool:
        return not self.names and not self.networks

    def holds_name(self, host: str) -> bool:
        # RFC 6761: every name under .localhost is loopback
        return host in self.names or (self.loopback and (
            host in _LOOPBACK_NAMES or host.endswith(".localhost")))

    def holds(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


@dataclass(frozen=True)
class AddressPolicy:
    """The operator's host filters (``allowed_hosts``, ``disallowed_hosts``)."""

    allowed: _Rules
    disallowed: _Rules

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        return cls(_Rules.parse(settings.allowed_hosts), _Rules.parse(settings.disallowed_hosts))

    def check_name(self, host: str) -> None:
        """The part of the decision the name alone settles; the address decides the rest."""
        literal = _literal_or_none(host) is not None
        refused = not literal and self.disallowed.holds_name(host)
        if not literal and not self.allowed.empty and not self.allowed.networks:
            refused = refused or not self.allowed.holds_name(host)
        if refused:
            raise InvalidRequest(f"Host {host!r} is not allowed for web-download")

    def check_address(self, address: IPAddress, host: str) -> None:
        """Refuse (InvalidRequest) connecting to ``address`` on behalf of ``host``."""
        forms = equivalent_addresses(address)
        if any(form in net for form in forms for net in _UNSPECIFIED
               if form.version == net.version):
            raise InvalidRequest(f"Host {host!r} is the unspecified address {address}, which "
                                 "connects to this host; not allowed for web-download")
        if any(self.disallowed.holds(form) for form in forms):
            raise InvalidRequest(f"Host {host!r} ({address}) is not allowed for web-download")
        if self.allowed.empty or self.allowed.holds_name(host):
            return
        if not any(self.allowed.holds(form) for form in forms):
            raise InvalidRequest(f"Host {host!r} ({address}) is not allowed for web-download")


def _literal_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def equivalent_addresses(address: IPAddress) -> tuple[IPAddress, ...]:
    """``address`` and the IPv4 address it stands for, if it embeds one (mapped, compatible,
    NAT64, 6to4): connecting to either may reach the same host."""
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    plain = ipaddress.IPv6Address(int(address))  # without a scope id
    embedded: list[IPAddress] = [plain]
    if plain.ipv4_mapped is not None:
        embedded.append(plain.ipv4_mapped)
    elif int(plain) >> 32 == 0 and int(plain) > 1:  # ::a.b.c.d, deprecated "compatible"
        embedded.append(ipaddress.IPv4Address(int(plain) & 0xFFFFFFFF))
    if plain in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(plain) & 0xFFFFFFFF))
    if plain.sixtofour is not None:
        embedded.append(plain.sixtofour)
    return tuple(embedded)
