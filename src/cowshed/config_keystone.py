"""The ``[keystone_authtoken]`` table: how the ``keystone`` strategy reaches an existing Keystone.

Option names are keystonemiddleware's, so a Glance configuration carries over::

    auth_strategy = "keystone"

    [keystone_authtoken]
    www_authenticate_uri = "https://keystone.example.com/v3"
    auth_url = "https://keystone.example.com/v3"
    auth_type = "password"
    username = "glance"
    password = "secret"
    project_name = "service"
    user_domain_name = "Default"
    project_domain_name = "Default"

Each option may also come from ``COWSHED_KEYSTONE_AUTHTOKEN_<OPTION>`` (e.g. the password).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cowshed.errors import ConfigError

ENV_PREFIX = "COWSHED_KEYSTONE_AUTHTOKEN_"


@dataclass(frozen=True)
class KeystoneAuthtoken:
    #: where a 401 sends clients for a token (default: auth_url).
    www_authenticate_uri: str = ""
    #: the Keystone cowshed validates tokens with (``…/v3`` is added if missing).
    auth_url: str = ""
    #: only ``password`` (a service user, as Glance uses one).
    auth_type: str = "password"
    username: str = ""
    password: str = ""
    project_name: str = ""
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    #: seconds a validated token is kept. Revocation events (revoked tokens, disabled or
    #: deleted users, changed passwords) are checked on every request anyway; what Keystone
    #: records no event for (a removed role, a disabled project) shows after at most this.
    token_cache_time: int = 60
    #: seconds to wait for Keystone.
    http_connect_timeout: int = 10

    @property
    def v3_url(self) -> str:
        base = self.auth_url.rstrip("/")
        return base if base.endswith("/v3") else base + "/v3"


def parse_keystone_authtoken(table: object, environ: Mapping[str, str]) -> KeystoneAuthtoken:
    """The TOML table plus ``COWSHED_KEYSTONE_AUTHTOKEN_*``; ConfigError on unknown keys or
    wrong types."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ConfigError("[keystone_authtoken] must be a table")
    raw: dict[str, Any] = dict(table)
    fields = {f.name: f for f in dataclasses.fields(KeystoneAuthtoken)}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX):].lower()
            if name not in fields:
                raise ConfigError(f"unknown environment setting {key}")
            raw[name] = value
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown [keystone_authtoken] option(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if str(fields[name].type) == "int":
            try:
                values[name] = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"keystone_authtoken.{name} must be an integer") from None
            if isinstance(value, bool) or values[name] < 0:
                raise ConfigError(f"keystone_authtoken.{name} must be 0 or more")
        elif not isinstance(value, str):
            raise ConfigError(f"keystone_authtoken.{name} must be a string")
        else:
            values[name] = value
    return KeystoneAuthtoken(**values)


def check_keystone_authtoken(conf: KeystoneAuthtoken) -> None:
    """What the ``keystone`` strategy needs (called only when it is chosen)."""
    missing = [n for n in ("auth_url", "username", "password", "project_name")
               if not getattr(conf, n)]
    if missing:
        raise ConfigError("auth_strategy keystone needs [keystone_authtoken] "
                          + ", ".join(missing))
    if conf.auth_type != "password":
        raise ConfigError("keystone_authtoken.auth_type must be password (a service user)")
    if not conf.auth_url.startswith(("http://", "https://")):
        raise ConfigError("keystone_authtoken.auth_url must be an http(s) URL")
