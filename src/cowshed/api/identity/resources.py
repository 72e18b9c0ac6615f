"""Users, projects, roles, role assignments, domains, services and endpoints (``/v3/…``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, read_json, services
from cowshed.api.identity import views
from cowshed.api.identity.body import entity, optional_bool, optional_str
from cowshed.domain.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, Assignment
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.identity.service import IdentityService, UserChanges


def _svc(request: Request) -> IdentityService:
    return services(request).identity


def _filters(request: Request, names: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in names:
        value = request.query_params.get(name)
        if value is None:
            continue
        if name == "enabled":
            out[name] = value.lower() not in ("0", "false", "no", "off")
        else:
            out[name] = value
    return out


async def _list(request: Request, key: str, fetch: Callable[..., list[Any]],
                view: Callable[[Request, Any], dict[str, object]], names: tuple[str, ...]
                ) -> Response:
    found = await call(partial(fetch, request_context(request), **_filters(request, names)))
    return JSONResponse(views.collection(request, key, [view(request, x) for x in found]))


# -- users -------------------------------------------------------------------------------------

async def list_users(request: Request) -> Response:
    return await _list(request, "users", _svc(request).list_users, views.user_view,
                       ("name", "domain_id", "enabled"))


async def create_user(request: Request) -> Response:
    body = entity(await read_json(request), "user")
    ctx = request_context(request)
    user = await call(lambda: _svc(request).create_user(
        ctx, str(body.get("name")), password=optional_str(body, "password"),
        enabled=optional_bool(body, "enabled") is not False, email=optional_str(body, "email"),
        default_project_id=optional_str(body, "default_project_id"),
        domain_id=optional_str(body, "domain_id") or DEFAULT_DOMAIN_ID))
    return JSONResponse({"user": views.user_view(request, user)}, status_code=201)


async def show_user(request: Request) -> Response:
    user = await call(_svc(request).get_user, request_context(request),
                      request.path_params["user_id"])
    return JSONResponse({"user": views.user_view(request, user)})


async def update_user(request: Request) -> Response:
    body = entity(await read_json(request), "user")
    changes = UserChanges(
        name=optional_str(body, "name"), password=optional_str(body, "password"),
        enabled=optional_bool(body, "enabled"), email=optional_str(body, "email"),
        default_project_id=optional_str(body, "default_project_id"))
    user = await call(_svc(request).update_user, request_context(request),
                      request.path_params["user_id"], changes)
    return JSONResponse({"user": views.user_view(request, user)})


async def delete_user(request: Request) -> Response:
    await call(_svc(request).delete_user, request_context(request),
               request.path_params["user_id"])
    return Response(status_code=204)


async def change_password(request: Request) -> Response:
    body = entity(await read_json(request), "user")
    original, password = body.get("original_password"), body.get("password")
    if not isinstance(original, str) or not isinstance(password, str):
        raise InvalidRequest("original_password and password are required strings.")
    await call(_svc(request).change_own_password, request_context(request),
               request.path_params["user_id"], original, password)
    return Response(status_code=204)


async def user_projects(request: Request) -> Response:
    found = await call(_svc(request).user_projects, request_context(request),
                       request.path_params["user_id"])
    return JSONResponse(views.collection(
        request, "projects", [views.project_view(request, p) for p in found]))


# -- projects ----------------------------------------------------------------------------------

async def list_projects(request: Request) -> Response:
    return await _list(request, "projects", _svc(request).list_projects, views.project_view,
                       ("name", "domain_id", "enabled"))


async def create_project(request: Request) -> Response:
    body = entity(await read_json(request), "project")
    ctx = request_context(request)
    project = await call(lambda: _svc(request).create_project(
        ctx, str(body.get("name")), description=optional_str(body, "description") or "",
        enabled=optional_bool(body, "enabled") is not False,
        domain_id=optional_str(body, "domain_id") or DEFAULT_DOMAIN_ID))
    return JSONResponse({"project": views.project_view(request, project)}, status_code=201)


async def show_project(request: Request) -> Response:
    project = await call(_svc(request).get_project, request_context(request),
                         request.path_params["project_id"])
    return JSONResponse({"project": views.project_view(request, project)})


async def update_project(request: Request) -> Response:
    body = entity(await read_json(request), "project")
    values: dict[str, object] = {}
    for key in ("name", "description"):
        if key in body:
            values[key] = optional_str(body, key) or ""
    if "enabled" in body:
        values["enabled"] = bool(optional_bool(body, "enabled"))
    project = await call(_svc(request).update_project, request_context(request),
                         request.path_params["project_id"], values)
    return JSONResponse({"project": views.project_view(request, project)})


async def delete_project(request: Request) -> Response:
    await call(_svc(request).delete_project, request_context(request),
               request.path_params["project_id"])
    return Response(status_code=204)


# -- roles and assignments ---------------------------------------------------------------------

async def list_roles(request: Request) -> Response:
    return await _list(request, "roles", _svc(request).list_roles, views.role_view, ("name",))


async def create_role(request: Request) -> Response:
    body = entity(await read_json(request), "role")
    role = await call(_svc(request).create_role, request_context(request), str(body.get("name")),
                      optional_str(body, "description") or "")
    return JSONResponse({"role": views.role_view(request, role)}, status_code=201)


async def show_role(request: Request) -> Response:
    role = await call(_svc(request).get_role, request_context(request),
                      request.path_params["role_id"])
    return JSONResponse({"role": views.role_view(request, role)})


async def delete_role(request: Request) -> Response:
    await call(_svc(request).delete_role, request_context(request),
               request.path_params["role_id"])
    return Response(status_code=204)


def _assignment(request: Request) -> Assignment:
    p = request.path_params
    return Assignment(user_id=p["user_id"], role_id=p["role_id"],
                      project_id=p.get("project_id"), domain_id=p.get("domain_id"))


async def grant(request: Request) -> Response:
    await call(_svc(request).grant, request_context(request), _assignment(request))
    return Response(status_code=204)


async def check_grant(request: Request) -> Response:
    if not await call(_svc(request).has_grant, request_context(request), _assignment(request)):
        raise NotFound("Could not find role assignment.")
    return Response(status_code=204)


async def revoke_grant(request: Request) -> Response:
    await call(_svc(request).revoke_grant, request_context(request), _assignment(request))
    return Response(status_code=204)


async def grants(request: Request) -> Response:
    p = request.path_params
    svc, ctx = _svc(request), request_context(request)
    found = await call(lambda: svc.assignments(ctx, p["user_id"], p.get("project_id"),
                                               p.get("domain_id")))
    roles = {r.id: r for r in await call(svc.list_roles, ctx)}
    items = [views.role_view(request, roles[a.role_id]) for a in found if a.role_id in roles]
    return JSONResponse(views.collection(request, "roles", items))


async def role_assignments(request: Request) -> Response:
    q = request.query_params
    svc, ctx = _svc(request), request_context(request)
    found = await call(lambda: svc.assignments(
        ctx, q.get("user.id"), q.get("scope.project.id"), q.get("scope.domain.id"),
        q.get("role.id")))
    names = "include_names" in q and q.get("include_names", "").lower() not in ("0", "false")
    lookup = await call(svc.names, ctx) if names else None
    items = [_assignment_view(request, a, lookup) for a in found]
    return JSONResponse(views.collection(request, "role_assignments", items))


def _assignment_view(request: Request, a: Assignment,
                     names: dict[str, str] | None) -> dict[str, object]:
    def ref(kind: str, ident: str) -> dict[str, object]:
        out: dict[str, object] = {"id": ident}
        if names is not None:
            out["name"] = names.get(f"{kind}:{ident}", ident)
            if kind in ("user", "project"):
                out["domain"] = views.domain_ref()
        return out

    scope = {"project": ref("project", a.project_id)} if a.project_id else \
        {"domain": {"id": a.domain_id, **({"name": DEFAULT_DOMAIN_NAME} if names else {})}}
    target = f"projects/{a.project_id}" if a.project_id else f"domains/{a.domain_id}"
    link = f"{views.v3(request)}/{target}/users/{a.user_id}/roles/{a.role_id}"
    return {"role": ref("role", a.role_id), "user": ref("user", a.user_id), "scope": scope,
            "links": {"assignment": link}}


# -- domains and the catalog -------------------------------------------------------------------

async def list_domains(request: Request) -> Response:
    request_context(request)
    name = request.query_params.get("name")
    items = [] if name not in (None, DEFAULT_DOMAIN_NAME) else [views.domain_view(request)]
    return JSONResponse(views.collection(request, "domains", items))


async def show_domain(request: Request) -> Response:
    request_context(request)
    if request.path_params["domain_id"] not in (DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME):
        raise NotFound(f"Could not find domain: {request.path_params['domain_id']}.")
    return JSONResponse({"domain": views.domain_view(request)})


async def list_services(request: Request) -> Response:
    await call(_svc(request).list_roles, request_context(request))  # admins only
    items: list[dict[str, object]] = [
        {"id": s["id"], "type": s["type"], "name": s["name"], "enabled": True,
         "links": {"self": f"{views.v3(request)}/services/{s['id']}"}}
        for s in views.catalog(request, None)]
    return JSONResponse(views.collection(request, "services", items))


async def list_endpoints(request: Request) -> Response:
    await call(_svc(request).list_roles, request_context(request))  # admins only
    items: list[dict[str, object]] = []
    for service in views.catalog(request, None):
        for e in service["endpoints"]:  # type: ignore[attr-defined]
            items.append({**e, "service_id": service["id"], "enabled": True,
                          "links": {"self": f"{views.v3(request)}/endpoints/{e['id']}"}})
    return JSONResponse(views.collection(request, "endpoints", items))
