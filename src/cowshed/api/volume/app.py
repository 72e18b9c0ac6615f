"""The Block Storage API v3 as one ASGI app, mounted by ``cowshed.api.app`` under ``/volume``.

Around the route table it does what Cinder's WSGI pipeline does for every request: give it a
request id (``x-openstack-request-id: req-<uuid>``), negotiate the microversion (and stamp the
answer with it), build the caller, accept both ``/v3/{project_id}/…`` and the project-less
``/v3/…``, and turn every error, including routing errors and bugs, into a Cinder fault body
(never the image API's webob shape, never a bare 500 page).
"""

from __future__ import annotations

import logging
import uuid

from starlette.requests import ClientDisconnect
from starlette.routing import Router
from starlette.types import Message, Receive, Scope, Send

from cowshed.api.routing import build_routes
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import (
    CONTEXT_KEY,
    SCOPE_KEY,
    VolumeRequest,
    caller,
    from_context,
)
from cowshed.api.volume.faults import fault, fault_for
from cowshed.api.volume.routes import COLLECTIONS, table
from cowshed.domain.volumes import Caller

log = logging.getLogger(__name__)


class VolumeApp:
    """Middleware and router in one: see the module docstring."""

    def __init__(self) -> None:
        # no redirects: ``/volumes/`` (an empty id) is 404 as in Cinder, not the collection
        self.router = Router(routes=build_routes(table()), redirect_slashes=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        headers = _headers(scope)
        # an outer middleware that already gave the request an id also answers with it
        outer_id = scope.get("cowshed.request_id")
        request_id = outer_id or f"req-{uuid.uuid4()}"
        extra = {} if outer_id else {"x-openstack-request-id": request_id}
        try:
            version = mv.negotiate(headers.get("openstack-api-version", []))
        except mv.VersionError as exc:
            extra["Vary"] = mv.HEADER
            await fault(exc.status, exc.message, extra)(scope, receive, send)
            return
        extra.update(mv.response_headers(version))
        scope = _with_project_split(scope)
        scope[SCOPE_KEY] = VolumeRequest(
            version=version, request_id=request_id, public_root=_public_root(scope),
            url_project=scope["cowshed.url_project"],
            caller=_caller(scope, headers),
        )
        # handler errors must come back here to get Cinder's body, not the image API's
        scope["starlette.exception_handlers"] = ({}, {})
        await self._dispatch(scope, receive, _stamping(send, extra))

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.router(scope, receive, tracking)
        except ClientDisconnect:
            log.info("client went away during %s %s", scope["method"], scope["path"])
        except Exception as exc:  # every error becomes a fault body; bugs are logged
            if started:
                raise
            await fault_for(exc, scope["method"], scope["path"])(scope, receive, send)


def _caller(scope: Scope, headers: dict[str, list[str]]) -> Caller:
    ctx = scope.get(CONTEXT_KEY)
    if ctx is not None:
        return from_context(ctx)
    return caller(_first(headers.get("x-auth-token")), scope["cowshed.url_project"])


def _headers(scope: Scope) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in scope["headers"]:
        out.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return out


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _stamping(send: Send, extra: dict[str, str]) -> Send:
    """``send`` with the request id and version headers added to the response start."""
    encoded = [(k.lower().encode(), v.encode()) for k, v in extra.items()]

    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k for k, _ in encoded}
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            message = {**message, "headers": kept + encoded}
        await send(message)

    return stamped


def _with_project_split(scope: Scope) -> Scope:
    """Route ``/v3/{project_id}/rest`` as ``/v3/rest``, remembering the project.

    The segment after ``/v3`` is a project id unless it names a collection, so one route
    table serves both URL forms (Cinder's routes.Mapper connects each path twice).
    """
    root = scope.get("root_path", "")
    path: str = scope["path"]
    rest = path[len(root):] if root and path.startswith(root) else path
    parts = rest.split("/")
    project = ""
    if len(parts) > 2 and parts[1] == "v3" and parts[2] and parts[2] not in COLLECTIONS:
        project = parts[2]
        rest = "/".join(parts[:2] + parts[3:]) or "/"
        if len(parts) == 3:  # /v3/{project} alone is the version document's place
            rest = "/v3/"
    new = dict(scope)
    new["path"] = root + rest
    new["cowshed.url_project"] = project
    return new


def _public_root(scope: Scope) -> str:
    """Scheme, host and mount point as the client addressed them."""
    headers = dict(scope["headers"])
    host = headers.get(b"host", b"").decode("latin-1")
    if not host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
