"""Standalone tokens: Fernet-sealed (AES-CBC + HMAC-SHA256), like Keystone's fernet tokens.

A token carries who (user, project or domain scope), how (methods), when (issued, expires) and
an audit id; nothing is stored per token. Roles are not in it: they are looked up at each
validation, so removing a role or a user takes effect at once. Revoking a token records its
audit id in the database, which every process sharing the database checks on every request.

The key lives in ``token_key_file`` (default ``<data_dir>/identity/token.key``), created on
first use with mode 0600; a key file readable by group or others stops the server (as ssh does
for private keys). Every process of a deployment must share the same key file.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cowshed.domain.identity import TokenData
from cowshed.errors import ConfigError, Unauthorized

#: what every refusal says: which check failed is logged, never told to the client.
INVALID = "The request you have made requires authentication."


def load_key(path: Path) -> bytes:
    """The Fernet key in ``path``, created (0600, atomically) if the file does not exist."""
    from cryptography.fernet import Fernet  # here: only standalone deployments pay for it

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"token key file {path} is accessible by others (mode "
                          f"{stat.S_IMODE(mode):o}); chmod 600 it")
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError as exc:
        raise ConfigError(f"token key file {path} does not hold a Fernet key") from exc
    return key


def _epoch(when: datetime) -> int:
    return int(when.replace(tzinfo=UTC).timestamp())


def _naive(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


class TokenCodec:
    """Seal TokenData into a token string and open it again."""

    def __init__(self, key: bytes) -> None:
        from cryptography.fernet import Fernet, InvalidToken

        self._fernet = Fernet(key)
        self._invalid = InvalidToken

    def issue(self, user_id: str, project_id: str | None, domain_id: str | None,
              methods: tuple[str, ...], now: datetime, expires_at: datetime,
              parent_audit_id: str | None = None) -> tuple[str, TokenData]:
        data = TokenData(
            user_id=user_id, project_id=project_id, domain_id=domain_id, methods=methods,
            issued_at=now.replace(microsecond=0), expires_at=expires_at.replace(microsecond=0),
            audit_id=secrets.token_urlsafe(16), parent_audit_id=parent_audit_id,
        )
        payload = {"u": data.user_id, "p": data.project_id, "d": data.domain_id,
                   "m": list(methods), "i": _epoch(data.issued_at),
                   "e": _epoch(data.expires_at), "a": data.audit_id, "c": parent_audit_id}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode("ascii"), data

    def open(self, token: str, now: datetime) -> TokenData:
        """TokenData of a genuine, unexpired token; Unauthorized otherwise."""
        try:
            payload = json.loads(self._fernet.decrypt(token.encode("ascii")))
            data = TokenData(
                user_id=str(payload["u"]), project_id=payload["p"], domain_id=payload["d"],
                methods=tuple(payload["m"]), issued_at=_naive(int(payload["i"])),
                expires_at=_naive(int(payload["e"])), audit_id=str(payload["a"]),
                parent_audit_id=payload["c"],
            )
        except (self._invalid, ValueError, KeyError, TypeError, UnicodeError):
            raise Unauthorized(INVALID) from None
        if data.expires_at <= now:
            raise Unauthorized(INVALID)
        return data


def expiry(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
