"""JSON shapes of the Identity API v3, as Keystone answers them."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request

from cowshed.api.common import services
from cowshed.domain.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, Project, Role, User
from cowshed.services.identity.login import ValidToken

VERSION_ID = "v3.14"
MEDIA_TYPE = {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
#: (type, name, path under the server root): what the catalog lists.
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("image", "glance", "/image"),
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
    ("block-storage", "cinder", "/volume/v3/{project_id}"),
)
INTERFACES = ("public", "internal", "admin")


def server_root(request: Request) -> str:
    """``scheme://host:port`` clients reach this server at (``public_endpoint`` if set)."""
    configured = services(request).settings.public_endpoint
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(str(request.url))
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def v3(request: Request) -> str:
    return f"{server_root(request)}/identity/v3"


def isotime(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def version(request: Request) -> dict[str, object]:
    return {"id": VERSION_ID, "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{v3(request)}/"}], "media-types": [MEDIA_TYPE]}


def domain_ref() -> dict[str, str]:
    return {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}


def domain_view(request: Request) -> dict[str, object]:
    return {**domain_ref(), "description": "The default domain", "enabled": True,
            "tags": [], "options": {}, "links": {"self": f"{v3(request)}/domains/default"}}


def user_view(request: Request, user: User) -> dict[str, object]:
    out: dict[str, object] = {
        "id": user.id, "name": user.name, "domain_id": user.domain_id, "enabled": user.enabled,
        "password_expires_at": None, "options": {},
        "links": {"self": f"{v3(request)}/users/{user.id}"},
    }
    if user.default_project_id:
        out["default_project_id"] = user.default_project_id
    if user.email:
        out["email"] = user.email
    return out


def project_view(request: Request, project: Project) -> dict[str, object]:
    return {
        "id": project.id, "name": project.name, "domain_id": project.domain_id,
        "description": project.description, "enabled": project.enabled, "is_domain": False,
        "parent_id": project.domain_id, "tags": [], "options": {},
        "links": {"self": f"{v3(request)}/projects/{project.id}"},
    }


def role_view(request: Request, role: Role) -> dict[str, object]:
    return {"id": role.id, "name": role.name, "domain_id": None,
            "description": role.description, "options": {},
            "links": {"self": f"{v3(request)}/roles/{role.id}"}}


def collection(request: Request, key: str, items: list[dict[str, object]]) -> dict[str, object]:
    return {key: items, "links": {"self": str(request.url), "previous": None, "next": None}}


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "cowshed:" + ":".join(parts)).hex


def catalog(request: Request, project_id: str | None) -> list[dict[str, object]]:
    """cowshed's endpoints, each on the public, internal and admin interfaces."""
    root = server_root(request)
    region = services(request).settings.region_name
    out: list[dict[str, object]] = []
    for kind, name, path in SERVICES:
        if "{project_id}" in path:
            path = path.format(project_id=project_id) if project_id else path.split("/{")[0]
        endpoints = [{"id": _stable_id(kind, interface), "interface": interface,
                      "region": region, "region_id": region, "url": root + path}
                     for interface in INTERFACES]
        out.append({"id": _stable_id(kind), "type": kind, "name": name, "endpoints": endpoints})
    return out


def token_view(request: Request, valid: ValidToken, with_catalog: bool) -> dict[str, object]:
    data, user = valid.data, valid.user
    body: dict[str, object] = {
        "methods": list(data.methods), "audit_ids": data.audit_ids,
        "expires_at": isotime(data.expires_at), "issued_at": isotime(data.issued_at),
        "user": {"id": user.id, "name": user.name, "domain": domain_ref(),
                 "password_expires_at": None},
    }
    if valid.project is not None:
        body["project"] = {"id": valid.project.id, "name": valid.project.name,
                           "domain": domain_ref()}
        body["is_domain"] = False
    elif data.domain_id is not None:
        body["domain"] = domain_ref()
    if valid.project is not None or data.domain_id is not None:
        refs = services(request).identity.role_refs(valid.roles)
        body["roles"] = [{"id": r.id, "name": r.name} for r in refs]
        if with_catalog:
            body["catalog"] = catalog(request, data.project_id)
    return {"token": body}
