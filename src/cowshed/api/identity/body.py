"""Request bodies of the Identity API, checked and turned into service records (400s)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cowshed.errors import InvalidRequest
from cowshed.services.identity.login import AuthRequest, PasswordCredentials, Scope


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid input for field '{where}': expected an object.")
    return value


def _str(value: object, where: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise InvalidRequest(f"Invalid input for field '{where}': expected a non-empty string.")
    return value


def _domain_ref(value: object, where: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    ref = _obj(value, where)
    return _str(ref.get("id"), f"{where}.id"), _str(ref.get("name"), f"{where}.name")


def auth_request(body: object) -> AuthRequest:
    """``{"auth": {"identity": {...}, "scope": ...}}`` → AuthRequest (400 if malformed)."""
    auth = _obj(_obj(body, "body").get("auth"), "auth")
    identity = _obj(auth.get("identity"), "identity")
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise InvalidRequest("Invalid input for field 'identity.methods': expected a list of "
                             "method names.")
    password = token = None
    if "password" in methods:
        password = _password(_obj(identity.get("password"), "identity.password"))
    if "token" in methods:
        ref = _obj(identity.get("token"), "identity.token")
        token = _str(ref.get("id"), "identity.token.id", optional=False)
    return AuthRequest(methods=tuple(dict.fromkeys(methods)), password=password, token=token,
                       scope=_scope(auth.get("scope")))


def _password(body: Mapping[str, Any]) -> PasswordCredentials:
    user = _obj(body.get("user"), "identity.password.user")
    secret = user.get("password")
    if not isinstance(secret, str):
        raise InvalidRequest("Invalid input for field 'identity.password.user.password'.")
    user_id = _str(user.get("id"), "user.id")
    name = _str(user.get("name"), "user.name")
    if user_id is None and name is None:
        raise InvalidRequest("Invalid input for field 'identity.password.user': an id or a "
                             "name is required.")
    domain_id, domain_name = _domain_ref(user.get("domain"), "user.domain")
    if user_id is None and domain_id is None and domain_name is None:
        raise InvalidRequest("Invalid input for field 'identity.password.user': a user named "
                             "by name needs its domain.")
    return PasswordCredentials(password=secret, user_id=user_id, user_name=name,
                               domain_id=domain_id, domain_name=domain_name)


def _scope(value: object) -> Scope:
    if value is None:
        return Scope()
    if value == "unscoped":
        return Scope(explicit_unscoped=True)
    scope = _obj(value, "scope")
    if "system" in scope:
        raise InvalidRequest("System scope is not supported; scope to a project or a domain.")
    if "project" in scope:
        project = _obj(scope["project"], "scope.project")
        pid, pname = _str(project.get("id"), "project.id"), _str(project.get("name"), "project.name")
        domain_id, domain_name = _domain_ref(project.get("domain"), "project.domain")
        if pid is None and (pname is None or (domain_id is None and domain_name is None)):
            raise InvalidRequest("Invalid input for field 'scope.project': an id, or a name "
                                 "and a domain, is required.")
        return Scope(project_id=pid, project_name=pname, project_domain_id=domain_id,
                     project_domain_name=domain_name)
    if "domain" in scope:
        domain_id, domain_name = _domain_ref(scope["domain"], "scope.domain")
        if domain_id is None and domain_name is None:
            raise InvalidRequest("Invalid input for field 'scope.domain'.")
        return Scope(domain_id=domain_id, domain_name=domain_name)
    raise InvalidRequest("Invalid input for field 'scope': expected project or domain.")


def entity(body: object, kind: str) -> Mapping[str, Any]:
    """The ``{kind: {...}}`` object of a create or update body."""
    return _obj(_obj(body, "body").get(kind), kind)


def optional_str(body: Mapping[str, Any], key: str) -> str | None:
    return _str(body.get(key), key)


def optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"Invalid input for field '{key}': expected a boolean.")
    return value
