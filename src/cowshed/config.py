"""Typed settings, parsed once: a TOML file plus ``COWSHED_*`` environment variables.

Precedence: built-in defaults < TOML file < environment. The defaults give the embedded mode:
everything under ``data_dir`` (SQLite database, one ``file`` store, staging area). Unknown keys
are an error, in the file and in the environment.

Example ``cowshed.toml``::

    data_dir = "/var/lib/cowshed"
    default_backend = "fast"
    show_image_direct_url = true

    [stores.fast]                     # enabled_backends-style: a name, a type, its options
    type = "file"
    weight = 10
    filesystem_store_datadir = "/srv/images"

    [stores.ceph]
    type = "rbd"
    rbd_store_pool = "images"
    rbd_store_ceph_conf = "/etc/ceph/ceph.conf"
    convert_to = "raw"

Configuring any ``[stores.*]`` turns multi-store on (``/v2/info/stores`` answers).

Volume backends use Cinder's option names; each is offered as a volume type of the same name::

    default_volume_type = "ceph"

    [volume_backends.ceph]
    type = "rbd"
    rbd_pool = "volumes"
    rbd_ceph_conf = "/etc/ceph/ceph.conf"
    rbd_max_clone_depth = 5

    [volume_backends.local]
    type = "file"
    volumes_dir = "/srv/volumes"

With no ``[volume_backends.*]`` there is one ``file`` backend under ``<data_dir>/volumes``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cowshed import config_rules
from cowshed.config_keystone import (
    KeystoneAuthtoken,
    check_keystone_authtoken,
    parse_keystone_authtoken,
)
from cowshed.errors import ConfigError
from cowshed.node.settings import NodeSettings, parse_node_settings

ENV_PREFIX = "COWSHED_"
#: where the server and every ``cowshed`` command keep a deployment unless told otherwise.
DEFAULT_DATA_DIR = "./cowshed-data"
_STORE_META = ("type", "weight", "description", "convert_to")


@dataclass(frozen=True)
class StoreSettings:
    """One named store: its driver type, Glance-style weight and driver options."""

    name: str
    type: str
    weight: int = 0
    description: str = ""
    #: disk format images are converted to on import into this store ("" keeps the format).
    convert_to: str = ""
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeBackendSettings:
    """One named volume backend (and the volume type of the same name): driver type, options."""

    name: str
    type: str
    description: str = ""
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Every setting of a cowshed deployment."""

    data_dir: Path
    #: SQLAlchemy URL; empty means SQLite at ``<data_dir>/cowshed.db``.
    database_url: str = ""
    default_backend: str = "file"
    #: configured stores; empty means one ``file`` store under ``<data_dir>/images``.
    stores: tuple[StoreSettings, ...] = ()
    show_image_direct_url: bool = False
    show_multiple_locations: bool = False
    #: largest image accepted, in bytes (Glance's default: 1 TiB).
    image_size_cap: int = 1 << 40
    limit_param_default: int = 25
    api_limit_max: int = 1000
    image_tag_quota: int = 128
    image_property_quota: int = 128
    #: members (projects shared with) per image (Glance's image_member_quota).
    image_member_quota: int = 128
    #: per-project image quotas (Glance's Keystone-limit names; -1 unlimited), the defaults
    #: of every project; ``cowshed identity project set --quota`` sets a project's own.
    image_count_total: int = -1
    #: MiB of image data a project may hold.
    image_size_total: int = -1
    #: MiB of staged (glance-direct) data a project may hold.
    image_stage_total: int = -1
    #: uploads, stages and imports a project may have under way at once.
    image_count_uploading: int = -1
    enabled_import_methods: tuple[str, ...] = ("glance-direct", "web-download", "copy-image")
    #: owner recorded on images until identity lands (requests run as one admin).
    default_owner: str = "admin"
    #: web-download filtering (Glance's [import_filtering_opts]).
    allowed_schemes: tuple[str, ...] = ("http", "https")
    disallowed_schemes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    disallowed_hosts: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = (80, 443)
    disallowed_ports: tuple[int, ...] = ()
    #: largest image virtual size accepted from the format inspector, bytes (64 TiB).
    max_virtual_size: int = 64 << 40
    #: seconds between maintenance sweeps of a running server (expired tasks…); 0 turns
    #: them off.
    maintenance_interval: int = 60
    #: configured volume backends; empty means one ``file`` backend under ``<data_dir>/volumes``.
    volume_backends: tuple[VolumeBackendSettings, ...] = ()
    #: the volume type (= backend name) a create without a type uses; "" → the first backend.
    default_volume_type: str = ""
    #: web-download: seconds for one whole download (every redirect hop, headers, body).
    web_download_deadline: int = 4 * 3600
    #: web-download: slowest transfer accepted, bytes/s, averaged over each rate window.
    web_download_min_rate: int = 64 << 10
    #: web-download: the rate window in seconds (also the longest silence accepted).
    web_download_rate_window: int = 30
    #: the node disk manager's ``[node]`` table (``COWSHED_NODE_*``), see cowshed.node.settings.
    node: NodeSettings = field(default_factory=NodeSettings)
    #: how the ``keystone`` strategy reaches Keystone (keystonemiddleware's option names;
    #: ``COWSHED_KEYSTONE_AUTHTOKEN_*``), see cowshed.config_keystone.
    keystone_authtoken: KeystoneAuthtoken = field(default_factory=KeystoneAuthtoken)
    #: who may call the APIs (docs/identity.md): ``noauth`` (every request is one admin; for
    #: development on loopback), ``standalone`` (cowshed's own Keystone-compatible identity under
    #: /identity: the way to deploy), ``keystone`` (tokens of an existing Keystone).
    auth_strategy: str = "noauth"
    #: let ``noauth`` listen on an address other than loopback (anyone reaching it is admin).
    allow_remote_noauth: bool = False
    #: lifetime of a standalone token, seconds (Keystone's default).
    token_expiration: int = 3600
    #: the administrator created on the first standalone start.
    admin_user: str = "admin"
    admin_project: str = "admin"
    #: its password (env COWSHED_ADMIN_PASSWORD); empty: generate one, print it once and write
    #: ``<data_dir>/openrc`` (mode 0600).
    admin_password: str = ""
    #: base URL clients reach this server at, for the catalog and version links; empty: the
    #: URL of each request (what the client used).
    public_endpoint: str = ""
    region_name: str = "RegionOne"
    #: failed logins of one user name allowed per ``lockout_duration`` seconds before further
    #: attempts are refused (429) until the window has passed.
    lockout_failure_attempts: int = 5
    lockout_duration: int = 60
    #: YAML (or JSON) file of oslo.policy rules overriding the defaults; empty: defaults only.
    policy_file: str = ""
    #: one live server per data dir (services/datadir.py); false only with PostgreSQL.
    data_dir_lock: bool = True
    #: seconds after which data staged (PUT /stage) and never imported expires: the image
    #: returns to queued and the staged file is removed.
    staging_expiry: int = 24 * 3600
    #: one log line per request (method, path, status, bytes, seconds, request id).
    access_log: bool = True
    #: imports (web-download, glance-direct, copy-image) that run at once…
    import_workers: int = 4
    #: …and that may wait for a worker; past both, POST /import answers 429.
    import_queue_size: int = 16
    #: seconds without a heartbeat after which a process counts as dead, and its work in
    #: progress (uploads, imports, tasks, volume operations) is reclaimed by the sweeps.
    owner_lease: int = 60
    #: server log lines: ``text`` or ``json`` (one object per line, with the request id).
    log_format: str = "text"
    #: seconds a stopping server (SIGTERM, Ctrl-C) lets requests in flight finish; uploads
    #: still running then are aborted cleanly (image back to queued, partial data removed).
    shutdown_grace: int = 30
    #: the standalone tokens' Fernet key (0600); empty: ``<data_dir>/identity/token.key``.
    #: Every process of a deployment must use the same key.
    token_key_file: str = ""

    @property
    def multistore(self) -> bool:
        return bool(self.stores)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cowshed.db'}"

    @property
    def token_key_path(self) -> Path:
        return Path(self.token_key_file) if self.token_key_file else \
            self.data_dir / "identity" / "token.key"

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    def effective_stores(self) -> tuple[StoreSettings, ...]:
        """The configured stores, or the embedded default ``file`` store."""
        if self.stores:
            return self.stores
        images = str(self.data_dir / "images")
        return (StoreSettings("file", "file", options={"filesystem_store_datadir": images}),)

    def effective_volume_backends(self) -> tuple[VolumeBackendSettings, ...]:
        """The configured volume backends, or the embedded default ``file`` backend."""
        if self.volume_backends:
            return self.volume_backends
        volumes = str(self.data_dir / "volumes")
        return (VolumeBackendSettings("file", "file", options={"volumes_dir": volumes}),)

    @property
    def volume_type_default(self) -> str:
        """The name of the default volume type."""
        return self.default_volume_type or self.effective_volume_backends()[0].name


def load_settings(
    data_dir: Path | str | None = None,
    config_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment.

    ``config_file`` defaults to ``$COWSHED_CONFIG``, then ``<data_dir>/cowshed.toml`` if present.
    Raises ConfigError on unknown keys, wrong types and inconsistent stores.
    """
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    path = config_file or env.pop(ENV_PREFIX + "CONFIG", None)
    base = Path(data_dir or env.get(ENV_PREFIX + "DATA_DIR") or DEFAULT_DATA_DIR)
    if path is None and (base / "cowshed.toml").is_file():
        path = base / "cowshed.toml"
    if path is not None:
        raw.update(_read_toml(Path(path)))
    raw.update(_from_env(env))
    raw["node"] = parse_node_settings(raw.get("node"), env)
    raw["keystone_authtoken"] = parse_keystone_authtoken(raw.get("keystone_authtoken"), env)
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    raw.setdefault("data_dir", str(base))
    return _build(raw)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name in ("config", "require_ceph", "test_slow", "test_database_url", "test_auth"):
            continue  # consumed elsewhere (file location, test switches)
        if name.startswith(("node_", "keystone_authtoken_")):
            continue  # the [node] / [keystone_authtoken] variables, parsed with their table
        if name not in fields or name in ("stores", "volume_backends", "node",
                                          "keystone_authtoken"):
            raise ConfigError(f"unknown environment setting {key}")
        out[name] = _parse_env_value(key, str(fields[name].type), value)
    return out


def _parse_env_value(key: str, hint: str, value: str) -> object:
    try:
        if "tuple[int" in hint:
            return [int(v) for v in value.split(",") if v.strip()]
        if "tuple[str" in hint:
            return [v.strip() for v in value.split(",") if v.strip()]
        if hint == "bool":
            if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes", "on")
        if hint == "int":
            return int(value)
    except ValueError:
        raise ConfigError(f"{key}: cannot parse {value!r} as {hint}") from None
    return value


def _build(raw: dict[str, Any]) -> Settings:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        hint = str(fields[name].type)
        if name == "stores":
            values[name] = _stores(value)
        elif name == "volume_backends":
            values[name] = _volume_backends(value)
        elif name == "node":
            values[name] = value if isinstance(value, NodeSettings) else (
                parse_node_settings(value, {})
            )
        elif name == "keystone_authtoken":
            values[name] = value if isinstance(value, KeystoneAuthtoken) else (
                parse_keystone_authtoken(value, {}))
        elif name == "data_dir":
            values[name] = Path(_expect(name, value, str)).absolute()
        elif hint.startswith("tuple["):
            item = int if "int" in hint else str
            seq = _expect(name, value, list)
            values[name] = tuple(_expect(name, v, item) for v in seq)
        else:
            kind = {"bool": bool, "int": int, "str": str}[hint]
            values[name] = _expect(name, value, kind)
    settings = Settings(**values)
    _check(settings)
    return settings


def _expect(name: str, value: object, kind: type) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"setting {name!r} must be {kind.__name__}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"setting {name!r} must be {kind.__name__}, got {value!r}")
    return value


def _stores(value: object) -> tuple[StoreSettings, ...]:
    table = _expect("stores", value, dict)
    out = []
    for name, body in table.items():
        opts = dict(_expect(f"stores.{name}", body, dict))
        kind = _expect(f"stores.{name}.type", opts.pop("type", None), str)
        meta = {k: opts.pop(k) for k in _STORE_META[1:] if k in opts}
        out.append(StoreSettings(
            name=name, type=kind,
            weight=_expect(f"stores.{name}.weight", meta.get("weight", 0), int),
            description=_expect(f"stores.{name}.description", meta.get("description", ""), str),
            convert_to=_expect(f"stores.{name}.convert_to", meta.get("convert_to", ""), str),
            options=MappingProxyType(opts),
        ))
    return tuple(out)


def _volume_backends(value: object) -> tuple[VolumeBackendSettings, ...]:
    table = _expect("volume_backends", value, dict)
    out = []
    for name, body in table.items():
        opts = dict(_expect(f"volume_backends.{name}", body, dict))
        kind = _expect(f"volume_backends.{name}.type", opts.pop("type", None), str)
        if kind not in ("rbd", "file"):
            raise ConfigError(f"volume_backends.{name}.type must be rbd or file, not {kind!r}")
        description = _expect(f"volume_backends.{name}.description",
                              opts.pop("description", ""), str)
        out.append(VolumeBackendSettings(name=name, type=kind, description=description,
                                         options=MappingProxyType(opts)))
    return tuple(out)


def _check_volumes(settings: Settings) -> None:
    names = [b.name for b in settings.effective_volume_backends()]
    if settings.default_volume_type and settings.default_volume_type not in names:
        raise ConfigError(f"default_volume_type {settings.default_volume_type!r} is not a "
                          f"configured volume backend ({', '.join(names)})")


def _check(settings: Settings) -> None:
    _check_volumes(settings)
    for store in settings.stores:
        if store.name.startswith("os_glance"):
            raise ConfigError(f"store name {store.name!r} is reserved")
        if store.convert_to not in ("", "raw", "qcow2"):
            raise ConfigError(f"stores.{store.name}.convert_to must be raw, qcow2 or empty")
    config_rules.check(settings)
    _check_identity(settings)
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be text or json, not {settings.log_format!r}")


AUTH_STRATEGIES = ("noauth", "standalone", "keystone")


def _check_identity(settings: Settings) -> None:
    if settings.auth_strategy not in AUTH_STRATEGIES:
        raise ConfigError(f"auth_strategy must be one of {', '.join(AUTH_STRATEGIES)}, "
                          f"not {settings.auth_strategy!r}")
    if settings.auth_strategy == "keystone":
        check_keystone_authtoken(settings.keystone_authtoken)
    if settings.token_expiration < 1:
        raise ConfigError("token_expiration must be at least 1 second")
    if settings.lockout_failure_attempts < 1 or settings.lockout_duration < 1:
        raise ConfigError("lockout_failure_attempts and lockout_duration must be positive")
    if not settings.admin_user or not settings.admin_project:
        raise ConfigError("admin_user and admin_project must not be empty")
