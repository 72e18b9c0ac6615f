"""Authenticators: a token (or none) in, a RequestContext out, one per ``auth_strategy``.

The API's one middleware (``cowshed.api.auth``) calls :meth:`Authenticator.authenticate` for
every request that is not public; a failure is ``Unauthorized`` (401). Implementations may
block (database, HTTP to Keystone): the middleware runs them in a worker thread unless
``blocking`` is False.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Protocol

from cowshed.config import Settings
from cowshed.domain.context import RequestContext, local_admin
from cowshed.errors import ConfigError

log = logging.getLogger("cowshed.auth")


class Authenticator(Protocol):
    #: False when authenticate() never blocks (no thread hop needed).
    blocking: bool
    #: where a 401 sends clients for a token; "" means this server's own /identity.
    www_authenticate_uri: str

    def authenticate(self, token: str | None, request_id: str) -> RequestContext:
        """The caller the token stands for; Unauthorized if it is missing or not valid."""
        ...


class NoAuth:
    """``noauth``: every request is the deployment's one admin, whatever it carries."""

    blocking = False
    www_authenticate_uri = ""

    def __init__(self, settings: Settings) -> None:
        self.project = settings.default_owner

    def authenticate(self, token: str | None, request_id: str) -> RequestContext:
        return local_admin(self.project, request_id)


def is_loopback(host: str) -> bool:
    """True if every address ``host`` names is a loopback one (127/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_listen(settings: Settings, host: str) -> None:
    """Refuse ``noauth`` on an address other than loopback unless ``allow_remote_noauth``; log
    the strategy loudly at start either way."""
    if settings.auth_strategy != "noauth":
        log.info("auth_strategy = %s", settings.auth_strategy)
        return
    if not is_loopback(host) and not settings.allow_remote_noauth:
        raise ConfigError(
            f"auth_strategy is noauth (no credentials checked, every request is admin) and "
            f"{host} is not a loopback address: use auth_strategy = \"standalone\" "
            f"(--auth-strategy standalone), or set allow_remote_noauth = true to accept that "
            f"anyone reaching the port owns every image")
    log.warning("*" * 78)
    log.warning("auth_strategy = noauth: NO AUTHENTICATION. Every request on %s is served as "
                "an admin of project %r.", host, settings.default_owner)
    log.warning("For development only; deploy with --auth-strategy standalone (docs/identity.md).")
    log.warning("*" * 78)
