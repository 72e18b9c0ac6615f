"""``/v3/os-quota-sets/{project}`` (show, ``?usage=true``, ``/defaults``; admins: PUT, DELETE)
and ``/v3/os-quota-class-sets/{class}`` (admins: show, PUT), as Cinder's ``quotas.py`` and
``quota_classes.py``. A project's limits are the ``default`` class's, overridden by its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume import body
from cowshed.api.volume.context import volume_request
from cowshed.api.volume.query import bool_param
from cowshed.domain.volumes import QuotaSet
from cowshed.errors import InvalidRequest
from cowshed.services.volumes.admin import VolumeAdmin


def _admin(request: Request) -> VolumeAdmin:
    admin: VolumeAdmin = services(request).volumes.admin
    return admin


def _quota_view(quotas: QuotaSet, usage: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"id": quotas.project_id}
    for key, limit in quotas.limits.items():
        if usage:
            view[key] = {"limit": limit, "in_use": quotas.in_use.get(key, 0), "reserved": 0,
                         "allocated": 0}
        else:
            view[key] = limit
    return view


async def show_quotas(request: Request) -> Response:
    vr = volume_request(request)
    params = request.query_params
    usage = bool_param("usage", params["usage"]) if "usage" in params else False
    quotas = await call(lambda: services(request).volumes.quotas(
        vr.caller, request.path_params["project"], usage=usage))
    return json_response({"quota_set": _quota_view(quotas, usage)})


async def default_quotas(request: Request) -> Response:
    vr = volume_request(request)
    quotas = await call(services(request).volumes.default_quotas, vr.caller)
    view = _quota_view(quotas, False)
    view["id"] = request.path_params["project"]
    return json_response({"quota_set": view})


async def _limits_body(request: Request, key: str) -> Mapping[str, Any]:
    """The limits of ``{key: {...}}``: at least one; ``skip_validation`` (Cinder's flag for
    checking limits against what is in use, which cowshed never does) is accepted and
    dropped."""
    spec = dict(await body.envelope(request, key))
    skip = spec.pop("skip_validation", True)
    body.boolean("skip_validation", skip)
    if not spec:
        raise InvalidRequest(f"Invalid input for field/attribute {key}. Value: {{}}. {{}} does "
                             "not have enough properties")
    return spec


async def update_quotas(request: Request) -> Response:
    vr = volume_request(request)
    values = await _limits_body(request, "quota_set")
    limits = await call(_admin(request).update_quotas, vr.caller,
                        request.path_params["project"], values)
    return json_response({"quota_set": limits})


async def delete_quotas(request: Request) -> Response:
    vr = volume_request(request)
    await call(_admin(request).delete_quotas, vr.caller, request.path_params["project"])
    return Response(status_code=200)


async def show_quota_class(request: Request) -> Response:
    vr = volume_request(request)
    name = request.path_params["name"]
    limits = await call(_admin(request).quota_class, vr.caller, name)
    return json_response({"quota_class_set": {"id": name, **limits}})


async def update_quota_class(request: Request) -> Response:
    vr = volume_request(request)
    name = request.path_params["name"]
    if len(name) > body.MAX_NAME:
        raise InvalidRequest(f"The quota class name must be at most {body.MAX_NAME} characters")
    values = await _limits_body(request, "quota_class_set")
    limits = await call(_admin(request).update_quota_class, vr.caller, name, values)
    return json_response({"quota_class_set": limits})
