"""Keystone v3 for the CLI's HTTP door: a token and the image endpoint from ``OS_AUTH_URL``.

Just what ``openstack`` does with an openrc (cowshed's standalone identity writes one to
``<data_dir>/openrc``): password authentication scoped to a project, or an existing token
checked with ``GET /v3/auth/tokens``; then the ``image`` endpoint of the catalog for the chosen
interface and region. Errors are CowshedErrors with one-line messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cowshed import errors as e


@dataclass(frozen=True)
class Credentials:
    auth_url: str
    username: str | None = None
    password: str | None = None
    project_name: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    token: str | None = None
    region_name: str | None = None
    interface: str = "public"


@dataclass(frozen=True)
class Session:
    token: str
    image_url: str


def login(creds: Credentials) -> Session:
    """A token (the given one, or a new one from the password) and the image endpoint."""
    base = creds.auth_url.rstrip("/").removesuffix("/v3")
    try:
        with httpx.Client(base_url=base, timeout=30.0,
                          headers={"Accept": "application/json"}) as http:
            if creds.password is not None:
                resp = http.post("/v3/auth/tokens", json=_password_body(creds))
            elif creds.token:
                resp = http.get("/v3/auth/tokens", headers={"X-Auth-Token": creds.token,
                                                            "X-Subject-Token": creds.token})
            else:
                raise e.InvalidRequest("OS_AUTH_URL needs OS_PASSWORD (with OS_USERNAME and "
                                       "OS_PROJECT_NAME) or OS_TOKEN")
    except httpx.TransportError as exc:
        raise e.BackendUnavailable(f"cannot reach the identity service at {base}: "
                                   f"{exc or type(exc).__name__}; check OS_AUTH_URL") from exc
    if resp.status_code >= 400:
        raise _refused(resp, base)
    token = resp.headers.get("X-Subject-Token") or creds.token or ""
    catalog = resp.json().get("token", {}).get("catalog") or []
    return Session(token, image_endpoint(catalog, creds.interface, creds.region_name))


def _password_body(creds: Credentials) -> dict[str, Any]:
    if not creds.username:
        raise e.InvalidRequest("OS_PASSWORD needs OS_USERNAME")
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": creds.username, "domain": {"name": creds.user_domain_name},
        "password": creds.password}}}}
    if creds.project_name:
        auth["scope"] = {"project": {"name": creds.project_name,
                                     "domain": {"name": creds.project_domain_name}}}
    return {"auth": auth}


def image_endpoint(catalog: list[dict[str, Any]], interface: str, region: str | None) -> str:
    """The ``image`` service's URL for ``interface`` (and ``region`` if given)."""
    for service in catalog:
        if service.get("type") != "image":
            continue
        for endpoint in service.get("endpoints", []):
            if endpoint.get("interface") == interface and \
                    (region is None or endpoint.get("region") in (region, None)):
                return str(endpoint["url"])
    where = f" in region {region}" if region else ""
    raise e.NotFound(f"the catalog has no {interface} image endpoint{where}; set OS_IMAGE_URL")


def _refused(resp: httpx.Response, base: str) -> e.CowshedError:
    try:
        message = str(resp.json().get("error", {}).get("message") or resp.reason_phrase)
    except ValueError:
        message = resp.reason_phrase
    cls = e.Unauthorized if resp.status_code == 401 else e.CowshedError
    return cls(f"the identity service at {base} refused the credentials: {message}")
