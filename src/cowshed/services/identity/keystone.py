"""The ``keystone`` strategy: X-Auth-Token is a token of an existing Keystone.

Tokens are validated with ``GET /v3/auth/tokens`` under a service user's own token (as
keystonemiddleware does for Glance), and a validation is cached for ``token_cache_time``. A
cached token is not trusted blindly: before it is used, Keystone's revocation events
(``GET /v3/OS-REVOKE/events``) are fetched — one fetch serves every request that arrived before
it started — and a token any event matches is refused. So a revoked token, and every token of a
disabled or deleted user or of a changed password, stops working at the next request (Glance's
cache keeps such a token working for up to 300 s). Keystone records no event when a role is
removed or a project disabled (it recomputes those when it validates), so those show once the
cached validation is older than ``token_cache_time`` (60 s by default). If Keystone cannot be
reached, requests are refused (503) rather than served from a cache that might be stale.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cowshed.config_keystone import KeystoneAuthtoken
from cowshed.domain.context import RequestContext
from cowshed.errors import BackendUnavailable, Unauthorized
from cowshed.services.identity.tokens import INVALID
from cowshed.services.policy import Policy

if TYPE_CHECKING:  # imported by KeystoneAuth itself: only the keystone strategy pays for httpx
    import httpx

log = logging.getLogger("cowshed.auth")
#: validated tokens kept at most (least recently used go first).
MAX_CACHED = 10_000
#: the event attributes this cache judges itself (Keystone's revoke model); others mean ask.
_CHECKED = frozenset({"audit_id", "audit_chain_id", "user_id", "project_id", "domain_id",
                      "role_id", "expires_at", "issued_before"})
#: service tokens are renewed this long before they expire.
RENEW_BEFORE = 120.0


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


@dataclass(frozen=True)
class Validated:
    """What Keystone said about one token, and when we asked."""

    user_id: str
    user_name: str | None
    user_domain_id: str | None
    project_id: str | None
    project_name: str | None
    domain_id: str | None
    roles: frozenset[str]
    role_ids: frozenset[str]
    audit_ids: tuple[str, ...]
    issued_at: datetime | None
    expires_at: datetime | None
    cached_at: float

    @classmethod
    def from_body(cls, body: Any, now: float) -> Validated:
        token = body["token"]
        user, project = token["user"], token.get("project") or {}
        roles = token.get("roles") or []
        return cls(
            user_id=user["id"], user_name=user.get("name"),
            user_domain_id=(user.get("domain") or {}).get("id"),
            project_id=project.get("id"), project_name=project.get("name"),
            domain_id=(token.get("domain") or {}).get("id"),
            roles=frozenset(r["name"] for r in roles), role_ids=frozenset(r["id"] for r in roles),
            audit_ids=tuple(token.get("audit_ids") or ()), issued_at=_time(token.get("issued_at")),
            expires_at=_time(token.get("expires_at")), cached_at=now,
        )

    def revoked_by(self, event: dict[str, Any]) -> bool | None:
        """Keystone's revocation model: an event matches when every attribute it names does.
        None when the event names attributes this cache cannot judge (trusts, OAuth): the
        token is then validated with Keystone again instead."""
        named = [k for k in event if k in _CHECKED and event[k] is not None]
        unknown = [k for k in event if k not in _CHECKED and k != "revoked_at" and event[k]]
        if not named and not unknown:
            return False
        if not all(self._matches(k, event[k]) for k in named):
            return False
        return None if unknown else True

    def _matches(self, attribute: str, value: Any) -> bool:
        if attribute in ("audit_id", "audit_chain_id"):
            index = 0 if attribute == "audit_id" else -1
            return bool(self.audit_ids) and value == self.audit_ids[index]
        if attribute == "domain_id":
            return value in (self.domain_id, self.user_domain_id)
        if attribute == "role_id":
            return value in self.role_ids
        if attribute == "expires_at":
            return _time(value) == self.expires_at
        if attribute == "issued_before":
            return self.issued_at is not None and (_time(value) or datetime.min) >= self.issued_at
        return bool(value == getattr(self, attribute))


class KeystoneAuth:
    blocking = True

    def __init__(self, conf: KeystoneAuthtoken, policy: Policy,
                 clock: Any = time.monotonic) -> None:
        self.conf = conf
        self.policy = policy
        self.clock = clock
        self.www_authenticate_uri = conf.www_authenticate_uri or conf.auth_url
        import httpx

        self._http = httpx.Client(timeout=float(conf.http_connect_timeout or 10))
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Validated] = OrderedDict()
        self._service: tuple[str, float] | None = None
        self._poll_lock = threading.Lock()
        self._polled_at = float("-inf")
        self._since: str | None = None
        self._events: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def close(self) -> None:
        self._http.close()

    # -- the authenticator ---------------------------------------------------------------------

    def authenticate(self, token: str | None, request_id: str) -> RequestContext:
        if not token:
            raise Unauthorized(INVALID)
        arrived = self.clock()
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            entry = self._cache.get(key)
        verdict = None
        if entry is not None and arrived - entry.cached_at < self.conf.token_cache_time:
            self._poll(arrived)
            verdict = self._still_good(entry)
            if verdict is False:
                self._forget(key)
                raise Unauthorized(INVALID)
        if entry is None or verdict is None:
            entry = self._validate(token, arrived)
            with self._lock:
                self._cache[key] = entry
                self._cache.move_to_end(key)
                while len(self._cache) > MAX_CACHED:
                    self._cache.popitem(last=False)
        return self._context(entry, request_id)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def _still_good(self, entry: Validated) -> bool | None:
        """False if expired or revoked, None if an event needs Keystone's own judgement."""
        now = datetime.now(UTC).replace(tzinfo=None)
        if entry.expires_at is not None and entry.expires_at <= now:
            return False
        verdicts = [entry.revoked_by(e) for e in self._events.values()]
        if True in verdicts:
            return False
        return None if None in verdicts else True

    def _context(self, v: Validated, request_id: str) -> RequestContext:
        ctx = RequestContext(
            user_id=v.user_id, project_id=v.project_id, roles=v.roles, is_admin=False,
            request_id=request_id, user_name=v.user_name, project_name=v.project_name,
            domain_id=v.domain_id, user_domain_id=v.user_domain_id, expires_at=v.expires_at,
            audit_id=v.audit_ids[0] if v.audit_ids else None)
        if self.policy.is_admin(ctx):
            ctx = replace(ctx, is_admin=True)
        return ctx

    # -- talking to Keystone -------------------------------------------------------------------

    def _request(self, method: str, path: str, headers: dict[str, str],
                 json: Any = None) -> httpx.Response:
        import httpx

        try:
            return self._http.request(method, self.conf.v3_url + path, headers=headers,
                                      json=json)
        except httpx.HTTPError as exc:
            log.error("keystone at %s unreachable: %s", self.conf.v3_url, exc)
            raise BackendUnavailable("The identity service cannot be reached.") from exc

    def _service_token(self, renew: bool = False) -> str:
        with self._lock:
            if self._service is not None and not renew and \
                    self._service[1] - RENEW_BEFORE > self.clock():
                return self._service[0]
        c = self.conf
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": c.username, "password": c.password, "domain": {"name": c.user_domain_name}}}},
            "scope": {"project": {"name": c.project_name,
                                  "domain": {"name": c.project_domain_name}}}}}
        resp = self._request("POST", "/auth/tokens?nocatalog", {}, body)
        if resp.status_code != 201:
            log.error("keystone refused the service user %s: %s", c.username, resp.status_code)
            raise BackendUnavailable("The identity service refused cowshed's service user.")
        expires = _time(resp.json()["token"]["expires_at"]) or datetime.now(UTC)
        left = (expires.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
        token = resp.headers["x-subject-token"]
        with self._lock:
            self._service = (token, self.clock() + left)
        return token

    def _as_service(self, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
        resp = self._request(method, path, {**headers, "X-Auth-Token": self._service_token()})
        if resp.status_code == 401:  # our own token expired or was revoked: once more
            resp = self._request(method, path,
                                 {**headers, "X-Auth-Token": self._service_token(renew=True)})
        return resp

    def _validate(self, token: str, now: float) -> Validated:
        resp = self._as_service("GET", "/auth/tokens?nocatalog", {"X-Subject-Token": token})
        if resp.status_code in (401, 404):
            raise Unauthorized(INVALID)
        if resp.status_code != 200:
            log.error("keystone answered %s validating a token", resp.status_code)
            raise BackendUnavailable("The identity service could not validate the token.")
        try:
            return Validated.from_body(resp.json(), now)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendUnavailable("The identity service answered nonsense.") from exc

    def _poll(self, arrived: float) -> None:
        """Fetch revocation events unless a fetch started after ``arrived`` already did."""
        with self._poll_lock:
            if self._polled_at >= arrived:
                return
            started = self.clock()
            path = "/OS-REVOKE/events" + (f"?since={self._since}" if self._since else "")
            resp = self._as_service("GET", path, {})
            if resp.status_code != 200:
                log.error("keystone answered %s listing revocation events", resp.status_code)
                raise BackendUnavailable("The identity service's revocations cannot be read.")
            latest = None
            for event in resp.json().get("events", []):
                self._events[tuple(sorted((k, str(v)) for k, v in event.items()))] = event
                revoked = _time(event.get("revoked_at"))
                if revoked is not None and (latest is None or revoked > latest):
                    latest = revoked
            if latest is not None:
                # a margin: events of the same second may come after this answer was made
                self._since = (latest - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._prune()
            self._polled_at = started

    def _prune(self) -> None:
        """Drop events older than any cached validation can be (plus a margin for clocks):
        a token cached longer is validated with Keystone again, which applies them itself."""
        horizon = datetime.now(UTC).replace(tzinfo=None) - timedelta(
            seconds=self.conf.token_cache_time + 600)
        for key, event in list(self._events.items()):
            revoked = _time(event.get("revoked_at"))
            if revoked is not None and revoked < horizon:
                del self._events[key]
