"""The Identity API v3 sub-app, mounted under ``/identity`` with the standalone strategy.

Errors are answered in Keystone's shape, ``{"error": {"code", "title", "message"}}``, which
keystoneauth and python-openstackclient read, not in the Image API's webob shape.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cowshed.api.auth import keystone_error
from cowshed.api.errors import status_for
from cowshed.api.identity import resources as r
from cowshed.api.identity import tokens as t
from cowshed.api.routing import Table, build_routes
from cowshed.errors import CowshedError, TooManyRequests

log = logging.getLogger(__name__)

_USER = "/v3/users/{user_id}"
_PROJ_GRANT = "/v3/projects/{project_id}/users/{user_id}/roles"
_DOM_GRANT = "/v3/domains/{domain_id}/users/{user_id}/roles"


def table() -> Table:
    return [
        ("GET", "/", t.root), ("GET", "/v3", t.v3), ("GET", "/v3/", t.v3),
        ("POST", "/v3/auth/tokens", t.issue), ("GET", "/v3/auth/tokens", t.validate),
        ("DELETE", "/v3/auth/tokens", t.revoke), ("GET", "/v3/auth/catalog", t.auth_catalog),
        ("GET", "/v3/auth/projects", t.auth_projects), ("GET", "/v3/auth/domains", t.auth_domains),
        ("GET", "/v3/users", r.list_users), ("POST", "/v3/users", r.create_user),
        ("GET", _USER, r.show_user), ("PATCH", _USER, r.update_user),
        ("DELETE", _USER, r.delete_user), ("POST", _USER + "/password", r.change_password),
        ("GET", _USER + "/projects", r.user_projects),
        ("GET", "/v3/projects", r.list_projects), ("POST", "/v3/projects", r.create_project),
        ("GET", "/v3/projects/{project_id}", r.show_project),
        ("PATCH", "/v3/projects/{project_id}", r.update_project),
        ("DELETE", "/v3/projects/{project_id}", r.delete_project),
        ("GET", "/v3/roles", r.list_roles), ("POST", "/v3/roles", r.create_role),
        ("GET", "/v3/roles/{role_id}", r.show_role),
        ("DELETE", "/v3/roles/{role_id}", r.delete_role),
        ("GET", _PROJ_GRANT, r.grants), ("PUT", _PROJ_GRANT + "/{role_id}", r.grant),
        ("GET", _PROJ_GRANT + "/{role_id}", r.check_grant),
        ("DELETE", _PROJ_GRANT + "/{role_id}", r.revoke_grant),
        ("GET", _DOM_GRANT, r.grants), ("PUT", _DOM_GRANT + "/{role_id}", r.grant),
        ("GET", _DOM_GRANT + "/{role_id}", r.check_grant),
        ("DELETE", _DOM_GRANT + "/{role_id}", r.revoke_grant),
        ("GET", "/v3/role_assignments", r.role_assignments),
        ("GET", "/v3/domains", r.list_domains), ("GET", "/v3/domains/{domain_id}", r.show_domain),
        ("GET", "/v3/services", r.list_services), ("GET", "/v3/endpoints", r.list_endpoints),
    ]


def _cowshed_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CowshedError)
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return keystone_error(status, exc.message, headers)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "The resource could not be found.",
                405: "The method is not allowed for this resource."}
    return keystone_error(exc.status_code, messages.get(exc.status_code, str(exc.detail)),
                          dict(exc.headers or {}))


def _disconnect(request: Request, exc: Exception) -> Response:
    return keystone_error(400, "The client closed the connection before the body was read.")


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return keystone_error(500, "An unexpected error prevented the server from fulfilling "
                               "your request.")


def identity_app() -> Starlette:
    """The sub-app; ``state.services`` is set by the main app's lifespan."""
    return Starlette(routes=build_routes(table()), exception_handlers={
        CowshedError: _cowshed_error, HTTPException: _http_error,
        ClientDisconnect: _disconnect, Exception: _unexpected,
    })
