"""Version discovery and ``/v3/auth/*``: issuing, validating and revoking tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, read_json, services
from cowshed.api.identity import views
from cowshed.api.identity.body import auth_request
from cowshed.errors import NotFound, Unauthorized
from cowshed.services.identity.login import TokenService, ValidToken


def _tokens(request: Request) -> TokenService:
    tokens = services(request).tokens
    if tokens is None:  # mounted only with the standalone strategy
        raise NotFound("The identity service is not enabled.")
    return tokens


async def root(request: Request) -> Response:
    return JSONResponse({"versions": {"values": [views.version(request)]}}, status_code=300)


async def v3(request: Request) -> Response:
    return JSONResponse({"version": views.version(request)})


def _with_catalog(request: Request) -> bool:
    return "nocatalog" not in request.query_params


async def issue(request: Request) -> Response:
    auth = auth_request(await read_json(request))
    token, valid = await call(_tokens(request).issue, auth)
    body = views.token_view(request, valid, _with_catalog(request))
    return JSONResponse(body, status_code=201, headers={"X-Subject-Token": token})


async def _subject(request: Request) -> tuple[str, ValidToken]:
    """The X-Subject-Token, validated (404 if it is not a valid token), and the caller's
    right to look at it (identity:validate_token)."""
    ctx = request_context(request)
    subject = request.headers.get("x-subject-token", "")
    try:
        valid = await call(_tokens(request).validate, subject)
    except Unauthorized:
        raise NotFound("Could not find token.") from None
    services(request).deps.policy.enforce(
        "identity:validate_token", ctx, {"target.token.user_id": valid.user.id})
    return subject, valid


async def validate(request: Request) -> Response:
    subject, valid = await _subject(request)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": subject})
    body = views.token_view(request, valid, _with_catalog(request))
    return JSONResponse(body, headers={"X-Subject-Token": subject})


async def revoke(request: Request) -> Response:
    subject, _valid = await _subject(request)
    await call(_tokens(request).revoke, subject)
    return Response(status_code=204)


async def auth_catalog(request: Request) -> Response:
    ctx = request_context(request)
    if ctx.project_id is None and ctx.domain_id is None:
        raise Unauthorized("An unscoped token has no catalog.")
    body = {"catalog": views.catalog(request, ctx.project_id),
            "links": {"self": str(request.url), "previous": None, "next": None}}
    return JSONResponse(body)


async def auth_projects(request: Request) -> Response:
    ctx = request_context(request)
    found = await call(services(request).identity.user_projects, ctx, ctx.user_id or "")
    items = [views.project_view(request, p) for p in found if p.enabled]
    return JSONResponse(views.collection(request, "projects", items))


async def auth_domains(request: Request) -> Response:
    ctx = request_context(request)
    mine = await call(services(request).identity.has_domain_role, ctx)
    items = [views.domain_view(request)] if mine else []
    return JSONResponse(views.collection(request, "domains", items))
