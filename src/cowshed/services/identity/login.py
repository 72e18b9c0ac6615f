"""Issuing, validating and revoking standalone tokens (``POST/GET/HEAD/DELETE /v3/auth/tokens``).

Every refusal of credentials is the same Unauthorized (401) with the same message, whatever
failed (unknown user, wrong password, disabled user or project, no role on the scope), so the
answer tells nothing about which users or projects exist; the reason is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from cowshed.db.identity import IdentityRepository, target_key
from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.identity import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    Project,
    TokenData,
    User,
    effective_roles,
)
from cowshed.errors import NotFound, Unauthorized
from cowshed.services.identity.passwords import verify_password
from cowshed.services.identity.ratelimit import LoginLimiter
from cowshed.services.identity.tokens import INVALID, TokenCodec, expiry
from cowshed.services.policy import Policy

log = logging.getLogger("cowshed.identity")


@dataclass(frozen=True)
class PasswordCredentials:
    """``identity.password.user``: by id, or by name within a domain (by id or name)."""

    password: str
    user_id: str | None = None
    user_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class Scope:
    """``scope``: a project (by id, or by name within a domain) or a domain; all None is
    unscoped (the user's default project, if any)."""

    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None
    #: ``"unscoped"`` asked for explicitly: no default project either.
    explicit_unscoped: bool = False


@dataclass(frozen=True)
class AuthRequest:
    methods: tuple[str, ...]
    password: PasswordCredentials | None = None
    token: str | None = None
    scope: Scope = Scope()


@dataclass(frozen=True)
class ValidToken:
    """A token checked against the database now: its user, scope and effective roles."""

    data: TokenData
    user: User
    project: Project | None
    roles: frozenset[str]


def _domain(domain_id: str | None, domain_name: str | None) -> str:
    """The one domain's id; Unauthorized for any other."""
    if domain_id not in (None, DEFAULT_DOMAIN_ID) or domain_name not in (None, DEFAULT_DOMAIN_NAME):
        raise Unauthorized(INVALID)
    return DEFAULT_DOMAIN_ID


class TokenService:
    def __init__(self, repo: IdentityRepository, codec: TokenCodec, policy: Policy,
                 lifetime: int, limiter: LoginLimiter) -> None:
        self.repo = repo
        self.codec = codec
        self.policy = policy
        self.lifetime = lifetime
        self.limiter = limiter

    # -- issuing -----------------------------------------------------------------------------

    def issue(self, request: AuthRequest) -> tuple[str, ValidToken]:
        """A new token for ``request``'s credentials and scope, and what it stands for."""
        now = utcnow()
        methods: tuple[str, ...]
        if request.methods == ("password",) and request.password is not None:
            user = self._check_password(request.password)
            expires, parent, methods = expiry(now, self.lifetime), None, ("password",)
        elif request.methods == ("token",) and request.token is not None:
            old = self.validate(request.token)
            user = old.user
            # Keystone: a token made from a token keeps its expiry and its audit chain
            expires, parent = old.data.expires_at, old.data.audit_ids[-1]
            methods = tuple(dict.fromkeys((*old.data.methods, "token")))
        else:
            raise Unauthorized(INVALID)
        project, domain_id = self._scope(user, request.scope)
        token, data = self.codec.issue(user.id, project.id if project else None, domain_id,
                                       methods, now, expires, parent)
        return token, self._check(data, user, project)

    def _check_password(self, creds: PasswordCredentials) -> User:
        key = creds.user_id or f"{creds.domain_id or creds.domain_name}/{creds.user_name}"
        self.limiter.check(key)
        user: User | None
        try:
            if creds.user_id is not None:
                user = self.repo.get_user(creds.user_id)
            else:
                domain = _domain(creds.domain_id, creds.domain_name)
                user = self.repo.user_by_name(creds.user_name or "", domain)
        except (NotFound, Unauthorized):
            user = None
        if not verify_password(creds.password, user.password_hash if user else None) \
                or user is None:
            self.limiter.failed(key)
            log.info("login refused for %s: unknown user or wrong password", key)
            raise Unauthorized(INVALID)
        if not user.enabled:
            log.info("login refused for %s: user disabled", key)
            raise Unauthorized(INVALID)
        self.limiter.succeeded(key)
        return user

    def _scope(self, user: User, scope: Scope) -> tuple[Project | None, str | None]:
        try:
            if scope.domain_id is not None or scope.domain_name is not None:
                return None, _domain(scope.domain_id, scope.domain_name)
            if scope.project_id is not None:
                return self.repo.get_project(scope.project_id), None
            if scope.project_name is not None:
                domain = _domain(scope.project_domain_id, scope.project_domain_name)
                return self.repo.project_by_name(scope.project_name, domain), None
            if user.default_project_id and not scope.explicit_unscoped:
                return self.repo.get_project(user.default_project_id), None
        except NotFound:
            log.info("token refused for user %s: scope %s does not exist", user.id, scope)
            raise Unauthorized(INVALID) from None
        return None, None

    # -- validating --------------------------------------------------------------------------

    def validate(self, token: str) -> ValidToken:
        """What ``token`` stands for now; Unauthorized if forged, expired, revoked, or if its
        user, project or roles are gone or disabled."""
        data = self.codec.open(token, utcnow())
        if self.repo.is_revoked(data.audit_ids):
            raise Unauthorized(INVALID)
        try:
            user = self.repo.get_user(data.user_id)
            project = self.repo.get_project(data.project_id) if data.project_id else None
        except NotFound:
            raise Unauthorized(INVALID) from None
        if user.tokens_valid_after is not None and data.issued_at < user.tokens_valid_after:
            raise Unauthorized(INVALID)
        return self._check(data, user, project)

    def _check(self, data: TokenData, user: User, project: Project | None) -> ValidToken:
        if not user.enabled or (project is not None and not project.enabled):
            raise Unauthorized(INVALID)
        roles: frozenset[str] = frozenset()
        if project is not None or data.domain_id is not None:
            names = self.repo.role_names(user.id, target_key(data.project_id, data.domain_id))
            if not names:
                log.info("token refused: user %s has no role on %s", user.id,
                         data.project_id or data.domain_id)
                raise Unauthorized(INVALID)
            roles = effective_roles(names)
        return ValidToken(data, user, project, roles)

    def context(self, valid: ValidToken, request_id: str) -> RequestContext:
        """The RequestContext of a validated token (``is_admin`` by ``context_is_admin``)."""
        ctx = RequestContext(
            user_id=valid.user.id, project_id=valid.data.project_id, roles=valid.roles,
            is_admin=False, request_id=request_id, user_name=valid.user.name,
            project_name=valid.project.name if valid.project else None,
            domain_id=valid.data.domain_id, user_domain_id=valid.user.domain_id,
            expires_at=valid.data.expires_at, audit_id=valid.data.audit_id,
        )
        if self.policy.is_admin(ctx):
            ctx = replace(ctx, is_admin=True)
        return ctx

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (every process sharing the database refuses it from now on)."""
        valid = self.validate(token)
        self.repo.revoke_token(valid.data.audit_id, valid.data.expires_at)


class StandaloneAuth:
    """The ``standalone`` authenticator: X-Auth-Token is one of our own tokens."""

    blocking = True
    www_authenticate_uri = ""

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    def authenticate(self, token: str | None, request_id: str) -> RequestContext:
        if not token:
            raise Unauthorized(INVALID)
        return self.tokens.context(self.tokens.validate(token), request_id)
