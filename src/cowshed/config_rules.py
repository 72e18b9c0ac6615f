"""Range and reference rules for Settings, checked once at start-up.

A bad value is refused when the settings are loaded, with one line naming the setting, the
rule and the value, rather than accepted and failing later on some request (a negative
``image_size_cap`` that refuses every upload, a ``default_backend`` naming no store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cowshed.errors import ConfigError

if TYPE_CHECKING:
    from cowshed.config import Settings

#: import methods cowshed implements (Glance's names).
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")


@dataclass(frozen=True)
class Range:
    """An integer setting's allowed range (inclusive; None: unbounded)."""

    low: int | None
    high: int | None = None

    def check(self, name: str, value: int) -> None:
        if (self.low is not None and value < self.low) or \
                (self.high is not None and value > self.high):
            raise ConfigError(f"setting {name!r} must be {self.describe()}, got {value}")

    def describe(self) -> str:
        if self.high is None:
            return "at least " + str(self.low) if self.low else "0 or more"
        return f"between {self.low} and {self.high}"


#: integer settings and their ranges; every integer setting must appear here.
RANGES: dict[str, Range] = {
    "image_size_cap": Range(1),
    "limit_param_default": Range(1),
    "api_limit_max": Range(1),
    "image_tag_quota": Range(0),
    "image_property_quota": Range(0),
    "image_member_quota": Range(0),
    "image_count_total": Range(-1),
    "image_size_total": Range(-1),
    "image_stage_total": Range(-1),
    "image_count_uploading": Range(-1),
    "max_virtual_size": Range(1),
    "web_download_deadline": Range(1),
    "web_download_rate_window": Range(1),
    "web_download_min_rate": Range(0),
    "staging_expiry": Range(1),
    "import_workers": Range(1, 256),
    "import_queue_size": Range(0),
    "token_expiration": Range(1),
    "lockout_failure_attempts": Range(1),
    "lockout_duration": Range(1),
    "maintenance_interval": Range(0),
    "shutdown_grace": Range(0),
    "owner_lease": Range(5),
}


def check(settings: Settings) -> None:
    """Raise ConfigError for the first rule ``settings`` breaks."""
    for name, rule in RANGES.items():
        rule.check(name, getattr(settings, name))
    for name in ("allowed_ports", "disallowed_ports"):
        for port in getattr(settings, name):
            Range(1, 65535).check(name, port)
    _check_references(settings)


def _check_references(settings: Settings) -> None:
    names = [s.name for s in settings.effective_stores()]
    if settings.default_backend not in names:
        hint = "" if settings.stores else "; with no [stores.*] the one store is 'file'"
        raise ConfigError(
            f"default_backend {settings.default_backend!r} is not a configured store "
            f"({', '.join(names)}){hint}"
        )
    unknown = [m for m in settings.enabled_import_methods if m not in IMPORT_METHODS]
    if unknown:
        raise ConfigError(f"enabled_import_methods: unknown method(s) {', '.join(unknown)} "
                          f"(known: {', '.join(IMPORT_METHODS)})")
    if not settings.default_owner:
        raise ConfigError("setting 'default_owner' must not be empty")
    url = settings.database_url
    if url and not url.startswith(("sqlite", "postgresql")):
        raise ConfigError(f"database_url must be a sqlite:// or postgresql+psycopg:// URL, "
                          f"got {redact_url(url)!r}")
    if not settings.data_dir_lock and not url.startswith("postgresql"):
        raise ConfigError("data_dir_lock = false needs a PostgreSQL database_url: with SQLite "
                          "only one server may use a data dir")


def redact_url(url: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    user = head.rsplit(":", 1)[0]
    return f"{user}:***@{tail}"
