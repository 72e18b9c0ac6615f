"""``/v3/types``: list and show (everyone), and for admins Cinder's types-manage (create,
update, delete), ``extra_specs`` and ``os-volume-type-access`` (private types shared with
projects). Bodies follow ``cinder/api/schemas/volume_types.py``, ``types_extra_specs.py`` and
``volume_type_access.py``."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.volume import body
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import volume_request
from cowshed.api.volume.views import type_view
from cowshed.errors import InvalidRequest, NotFound
from cowshed.services.volumes.admin import VolumeAdmin

#: Cinder's ``extra_specs_with_no_spaces_key`` key pattern.
SPEC_KEY = re.compile(r"^[a-zA-Z0-9-_:.]{1,255}$")
_CREATE_KEYS = frozenset({"name", "description", "extra_specs",
                          "os-volume-type-access:is_public"})
_UPDATE_KEYS = frozenset({"name", "description", "is_public"})


def _admin(request: Request) -> VolumeAdmin:
    admin: VolumeAdmin = services(request).volumes.admin
    return admin


def _type_ref(request: Request) -> str:
    ref: str = request.path_params["type_id"]
    return ref


async def list_types(request: Request) -> Response:
    vr = volume_request(request)
    types = await call(services(request).volumes.list_types, vr.caller)
    wanted = _is_public_filter(request, vr.caller.is_admin)
    # non-admins get the public types and the private ones shared with them, as listed
    shown = [t for t in types if wanted is None or t.is_public == wanted]
    return json_response({"volume_types": [type_view(t, vr.caller.is_admin) for t in shown]})


def _is_public_filter(request: Request, admin: bool) -> bool | None:
    """Cinder's ``is_public`` query: admins see public types by default, every type with
    ``is_public=None``; others always see the public ones and those shared with them."""
    raw = request.query_params.get("is_public")
    if not admin:
        return None
    if raw is None:
        return True
    if raw.strip().lower() == "none":
        return None
    return body.boolean("is_public", raw)


async def show_type(request: Request) -> Response:
    vr = volume_request(request)
    svc = services(request).volumes
    ref = _type_ref(request)
    if ref == "default":
        if vr.version < mv.DEFAULT_TYPE:
            raise NotFound("Volume type default could not be found.")
        vtype = await call(svc.default_type, vr.caller)
    else:
        vtype = await call(svc.get_type, vr.caller, ref)
    return json_response({"volume_type": type_view(vtype, vr.caller.is_admin)})


def _only(spec: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise InvalidRequest(f"Invalid input for field/attribute {what}. Additional properties "
                             f"are not allowed ({', '.join(repr(k) for k in extra)} was "
                             "unexpected)")


def _name(value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid input for field/attribute name. Value: {value}. "
                             f"{value!r} is not of type 'string'")
    if required and not value.strip():
        raise InvalidRequest("Invalid input for field/attribute name. Value: . The name "
                             "must not be empty or only whitespace.")
    return body.text("name", value)


def extra_specs(value: Any, what: str = "extra_specs") -> dict[str, str]:
    """An extra-specs object: keys of ``[a-zA-Z0-9-_:.]`` (1-255), string values (≤ 255)."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid input for field/attribute {what}. Value: {value}. "
                             f"{value!r} is not of type 'object'")
    for key, item in value.items():
        if not SPEC_KEY.match(key):
            raise InvalidRequest(f"Invalid input for field/attribute {what}. Value: {value}. "
                                 f"'{key}' does not match any of the regexes: "
                                 f"'{SPEC_KEY.pattern}'")
        if not isinstance(item, str) or len(item) > body.MAX_NAME:
            raise InvalidRequest(f"Invalid input for field/attribute {key}. Value: {item}. "
                                 f"{item!r} is not a string of at most {body.MAX_NAME} "
                                 "characters")
    return dict(value)


async def create_type(request: Request) -> Response:
    vr = volume_request(request)
    spec = await body.envelope(request, "volume_type")
    _only(spec, _CREATE_KEYS, "volume_type")
    specs = spec.get("extra_specs")
    create_fn = functools.partial(
        _admin(request).create_type, vr.caller,
        name=_name(spec.get("name"), required=True) or "",
        description=body.text("description", spec.get("description")),
        is_public=body.boolean("os-volume-type-access:is_public",
                               spec.get("os-volume-type-access:is_public"), default=True),
        extra_specs=extra_specs(specs) if specs is not None else {},
    )
    vtype = await call(create_fn)
    return json_response({"volume_type": type_view(vtype, vr.caller.is_admin, "create")})


async def update_type(request: Request) -> Response:
    vr = volume_request(request)
    spec = await body.envelope(request, "volume_type")
    _only(spec, _UPDATE_KEYS, "volume_type")
    is_public = spec.get("is_public")
    update_fn = functools.partial(
        _admin(request).update_type, vr.caller, _type_ref(request),
        name=_name(spec.get("name"), required=False),
        description=body.text("description", spec.get("description")),
        is_public=None if is_public is None else body.boolean("is_public", is_public),
    )
    vtype = await call(update_fn)
    return json_response({"volume_type": type_view(vtype, vr.caller.is_admin, "update")})


async def delete_type(request: Request) -> Response:
    vr = volume_request(request)
    await call(_admin(request).delete_type, vr.caller, _type_ref(request))
    return Response(status_code=202)


# -- extra specs -------------------------------------------------------------------------------

async def list_specs(request: Request) -> Response:
    vr = volume_request(request)
    vtype = await call(services(request).volumes.get_type, vr.caller, _type_ref(request))
    return json_response({"extra_specs": dict(vtype.extra_specs)})


async def show_spec(request: Request) -> Response:
    vr = volume_request(request)
    vtype = await call(services(request).volumes.get_type, vr.caller, _type_ref(request))
    key = request.path_params["key"]
    if key not in vtype.extra_specs:
        raise NotFound(f"Volume Type {vtype.id} has no extra specs with key {key}.")
    return json_response({key: vtype.extra_specs[key]})


async def create_specs(request: Request) -> Response:
    vr = volume_request(request)
    doc = await read_json(request)
    if not isinstance(doc, dict) or "extra_specs" not in doc:
        raise InvalidRequest("Invalid input for field/attribute extra_specs: 'extra_specs' is "
                             "a required property")
    _only(doc, frozenset({"extra_specs"}), "extra_specs")
    specs = extra_specs(doc["extra_specs"])
    done = await call(_admin(request).set_type_specs, vr.caller, _type_ref(request), specs)
    return json_response({"extra_specs": dict(done)})


async def update_spec(request: Request) -> Response:
    vr = volume_request(request)
    key = request.path_params["key"]
    doc = await read_json(request)
    if not isinstance(doc, dict) or len(doc) != 1:
        raise InvalidRequest("Invalid input for extra spec update: the body must be an object "
                             "with exactly one key")
    specs = extra_specs(doc, key)
    if key not in specs:
        raise InvalidRequest("Request body and URI mismatch")
    done = await call(_admin(request).set_type_specs, vr.caller, _type_ref(request), specs)
    return json_response(dict(done))


async def delete_spec(request: Request) -> Response:
    vr = volume_request(request)
    await call(_admin(request).delete_type_spec, vr.caller, _type_ref(request),
               request.path_params["key"])
    return Response(status_code=202)


# -- type access -------------------------------------------------------------------------------

async def list_access(request: Request) -> Response:
    vr = volume_request(request)
    ref = _type_ref(request)
    vtype = await call(services(request).volumes.get_type, vr.caller, ref)
    projects = await call(_admin(request).type_access, vr.caller, vtype.id)
    return json_response({"volume_type_access": [
        {"volume_type_id": vtype.id, "project_id": p} for p in projects]})


async def type_action(request: Request) -> Response:
    """``addProjectAccess`` / ``removeProjectAccess``."""
    vr = volume_request(request)
    name, value = await body.action(request)
    admin = _admin(request)
    actions = {"addProjectAccess": admin.add_type_access,
               "removeProjectAccess": admin.remove_type_access}
    if name not in actions:
        raise InvalidRequest(f"There is no such action: {name}")
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                             f"{value!r} is not of type 'object'")
    _only(value, frozenset({"project"}), name)
    project = value.get("project")
    if not isinstance(project, str) or not 1 <= len(project) <= body.MAX_NAME:
        raise InvalidRequest(f"Invalid input for field/attribute project. Value: {project}. "
                             "A project id of 1 to 255 characters is required")
    await call(actions[name], vr.caller, _type_ref(request), project)
    return Response(status_code=202)
