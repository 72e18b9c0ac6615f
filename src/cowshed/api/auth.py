"""The one authentication middleware: every API request gets a RequestContext, or a 401.

It reads ``X-Auth-Token``, asks the deployment's authenticator (``Services.auth``, chosen by
``auth_strategy``) who that is, and puts the answer in the ASGI scope, where handlers of every
API (image, volume, identity) read it with :func:`request_context` and pass it to the services
explicitly. It also gives every response its ``x-openstack-request-id``.

Only version discovery and asking for a token are public (:data:`PUBLIC`); everything else
without a valid token is refused here, before any handler or body read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cowshed.api.errors import error_response
from cowshed.domain.context import RequestContext, new_request_id
from cowshed.errors import Unauthorized
from cowshed.logs import REQUEST_ID
from cowshed.services.app import Services

log = logging.getLogger(__name__)

SCOPE_KEY = "cowshed.context"
#: tokens longer than this are refused unread (Keystone's own are ~200 bytes).
MAX_TOKEN = 8192
_DISCOVERY = r"(?:/(?:versions|v2|v3)?)?/?"
#: (methods, path) that need no token: version documents of every API, and asking for a token.
PUBLIC: Sequence[tuple[frozenset[str], re.Pattern[str]]] = (
    (frozenset({"GET", "HEAD"}), re.compile(rf"^(?:/image|/volume)?{_DISCOVERY}$")),
    # the Image API's OpenAPI description (docs/api.md)
    (frozenset({"GET", "HEAD"}), re.compile(r"^(?:/image)?/openapi\.yaml$")),
    (frozenset({"GET", "HEAD"}), re.compile(r"^/identity(?:/v3)?/?$")),
    (frozenset({"POST"}), re.compile(r"^/identity/v3/auth/tokens/?$")),
    # the dashboard's shell (page, scripts, styles, how to log in); its data comes from the
    # APIs with the user's token
    (frozenset({"GET", "HEAD"}), re.compile(r"^/dashboard(?:/|/config\.json|/static/[^?]*)?$")),
    # load balancers and Prometheus (docs/operations.md)
    (frozenset({"GET", "HEAD"}), re.compile(r"^/(?:healthcheck|metrics)$")),
)
#: the Identity API answers errors in Keystone's body shape, the others in webob's.
IDENTITY_PREFIX = "/identity"
#: 401s there are keystonemiddleware's JSON (what a Cinder behind it answers), not webob's.
KEYSTONE_SHAPED = (IDENTITY_PREFIX, "/volume")


def is_public(method: str, path: str) -> bool:
    return any(method in methods and pattern.match(path) for methods, pattern in PUBLIC)


def request_context(request: Request) -> RequestContext:
    """The caller of ``request``, as the middleware found it; Unauthorized on a public path."""
    ctx: RequestContext | None = request.scope.get(SCOPE_KEY)
    if ctx is None:
        raise Unauthorized("The request you have made requires authentication.")
    return ctx


def request_id(request: Request) -> str:
    rid: str = request.scope.get("cowshed.request_id") or new_request_id()
    return rid


class AuthMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): request bodies stream through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope["cowshed.request_id"] = rid
        REQUEST_ID.set(rid)  # every log line of this request names it (cowshed.logs)
        send = _with_request_id(send, rid)
        if not is_public(scope["method"], scope["path"]):
            try:
                scope[SCOPE_KEY] = await self._authenticate(scope, rid)
            except Unauthorized as exc:
                await self._refuse(scope, exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, rid: str) -> RequestContext:
        services: Services = scope["app"].state.services
        token = _token(scope)
        auth = services.auth
        if not auth.blocking:
            return auth.authenticate(token, rid)
        return await asyncio.to_thread(auth.authenticate, token, rid)

    def _refuse(self, scope: Scope, exc: Unauthorized) -> Response:
        services: Services = scope["app"].state.services
        request = Request(scope)
        log.info("401 for %s %s: %s", scope["method"], scope["path"], exc.message)
        headers = {}
        uri = services.auth.www_authenticate_uri or _base_url(request) + IDENTITY_PREFIX
        if services.settings.auth_strategy != "noauth":
            headers["WWW-Authenticate"] = f'Keystone uri="{uri}"'
        if scope["path"].startswith(KEYSTONE_SHAPED):
            return keystone_error(401, exc.message, headers)
        return error_response(request, 401, exc.message, headers)


def keystone_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in the Identity API's shape: ``{"error": {"code", "title", "message"}}``."""
    from http import HTTPStatus

    body = {"error": {"code": status, "title": HTTPStatus(status).phrase, "message": message}}
    return Response(json.dumps(body), status, headers=headers, media_type="application/json")


def _token(scope: Scope) -> str | None:
    """The X-Auth-Token header: None if absent; Unauthorized if unusable (too long, not ASCII,
    repeated)."""
    found: list[bytes] = [v for k, v in scope["headers"] if k == b"x-auth-token"]
    if not found:
        return None
    if len(found) > 1:
        raise Unauthorized("More than one X-Auth-Token header.")
    raw = found[0].strip()
    if len(raw) > MAX_TOKEN:
        raise Unauthorized("The token is too long to be valid.")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise Unauthorized("The token is malformed.") from None


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _with_request_id(send: Send, rid: str) -> Send:
    header = (b"x-openstack-request-id", rid.encode())

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            # an API that stamps its own (the volume API) keeps it: one id per response
            if not any(k.lower() == header[0] for k, _ in headers):
                message = {**message, "headers": [*headers, header]}
        await send(message)

    return sender
