"""Password hashing with scrypt (a memory-hard KDF; hashlib's, so no extra dependency).

Stored form: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised later
and old hashes still verify. Verification compares in constant time, and an unknown user is
checked against a dummy hash so both answers take as long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: n = 2**14, r = 8: 16 MiB and some tens of milliseconds per check (OWASP's scrypt minimum is
#: n = 2**17 with r = 8 and p = 1 at 128 MiB; 2**14 keeps logins fast on small machines while
#: still costing an attacker 16 MiB per guess; raise LOG_N for more).
LOG_N = 14
R = 8
P = 1
_MAXMEM = 64 << 20
#: longest password accepted: scrypt takes any length, but megabytes of it are abuse.
MAX_PASSWORD = 4096


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kdf(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=1 << log_n, r=r, p=p,
                          maxmem=_MAXMEM, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _kdf(password, salt, LOG_N, R, P)
    return f"scrypt${LOG_N}${R}${P}${_b64(salt)}${_b64(digest)}"


#: what an unknown user is checked against: the stored form with random salt and digest, so a
#: check costs one KDF run like a real one (no password has this digest: nothing hashes to it
#: knowingly, and a None ``stored`` never matches anyway). Built without running the KDF, which
#: would cost every process that imports this module ~16 MiB and tens of milliseconds.
_DUMMY = "$".join(("scrypt", str(LOG_N), str(R), str(P), _b64(secrets.token_bytes(16)),
                   _b64(secrets.token_bytes(32))))


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored``; a None or unreadable hash never matches (but
    costs the same time)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        kind, log_n, r, p, salt, digest = (stored or _DUMMY).split("$")
        params = (int(log_n), int(r), int(p))
        if kind != "scrypt" or not (1 <= params[0] <= 20 and params[1] <= 32 and params[2] <= 16):
            raise ValueError(kind)
        expected = base64.b64decode(digest)
        got = _kdf(password, base64.b64decode(salt), *params)
    except ValueError:
        _kdf(password, b"0" * 16, LOG_N, R, P)
        return False
    return stored is not None and hmac.compare_digest(got, expected)
