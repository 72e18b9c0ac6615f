"""``/v3/qos-specs`` (admins): create, list, show, set and delete keys, delete, and the
associations with volume types (``cinder/api/contrib/qos_specs_manage.py``). Bodies are
``{"qos_specs": {"name": …, "consumer": …, KEY: VALUE…}}``; every value is a string."""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.volume import body
from cowshed.api.volume.context import volume_request
from cowshed.api.volume.query import bool_param
from cowshed.api.volume.views import links
from cowshed.domain.volumes import QosConsumer, QosSpecs
from cowshed.errors import InvalidRequest
from cowshed.services.volumes.qos import QosAdmin


def _qos(request: Request) -> QosAdmin:
    qos: QosAdmin = services(request).volumes.admin.qos
    return qos


def _id(request: Request) -> str:
    qos_id: str = request.path_params["qos_id"]
    return qos_id


def qos_view(qos: QosSpecs) -> dict[str, Any]:
    return {"specs": dict(qos.specs), "consumer": str(qos.consumer), "name": qos.name,
            "id": qos.id}


def _values(spec: dict[str, Any], what: str) -> dict[str, str]:
    for key, value in spec.items():
        if not isinstance(key, str) or not 1 <= len(key) <= body.MAX_NAME:
            raise InvalidRequest(f"Invalid input for field/attribute {what}: keys must be 1 "
                                 f"to {body.MAX_NAME} characters")
        if not isinstance(value, str) or len(value) > body.MAX_NAME:
            raise InvalidRequest(f"Invalid input for field/attribute {key}. Value: {value!r}. "
                                 f"Values must be strings of at most {body.MAX_NAME} "
                                 "characters")
    return dict(spec)


async def index(request: Request) -> Response:
    vr = volume_request(request)
    found = await call(_qos(request).all, vr.caller)
    return json_response({"qos_specs": [qos_view(q) for q in found]})


async def create(request: Request) -> Response:
    vr = volume_request(request)
    spec = dict(await body.envelope(request, "qos_specs"))
    name = spec.pop("name", None)
    if not isinstance(name, str) or not name.strip() or len(name) > body.MAX_NAME:
        raise InvalidRequest("Please specify a name for QoS specs (1 to 255 characters).")
    consumer = spec.pop("consumer", QosConsumer.BACK_END)
    try:
        consumer = QosConsumer(consumer)
    except ValueError:
        raise InvalidRequest(f"Invalid consumer {consumer!r}: front-end, back-end or "
                             "both") from None
    made = await call(functools.partial(_qos(request).create, vr.caller, name, consumer,
                                        _values(spec, "qos_specs")))
    return json_response({"qos_specs": qos_view(made),
                          "links": links(vr, "qos-specs", made.id)})


async def show(request: Request) -> Response:
    vr = volume_request(request)
    qos = await call(_qos(request).get, vr.caller, _id(request))
    return json_response({"qos_specs": qos_view(qos), "links": links(vr, "qos-specs", qos.id)})


async def set_keys(request: Request) -> Response:
    vr = volume_request(request)
    spec = _values(dict(await body.envelope(request, "qos_specs")), "qos_specs")
    if not spec:
        raise InvalidRequest("Invalid input for field/attribute qos_specs: at least one key")
    done = await call(_qos(request).set_keys, vr.caller, _id(request), spec)
    return json_response({"qos_specs": dict(done)})


async def delete_keys(request: Request) -> Response:
    vr = volume_request(request)
    doc = await read_json(request)
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise InvalidRequest("Invalid input for field/attribute keys: a list of key names")
    await call(_qos(request).unset_keys, vr.caller, _id(request), keys)
    return Response(status_code=202)


async def delete(request: Request) -> Response:
    vr = volume_request(request)
    raw = request.query_params.get("force")
    force = bool_param("force", raw) if raw is not None else False
    await call(functools.partial(_qos(request).delete, vr.caller, _id(request), force=force))
    return Response(status_code=202)


def _type_param(request: Request) -> str:
    type_id = request.query_params.get("vol_type_id")
    if not type_id:
        raise InvalidRequest("Volume Type id must not be None.")
    return type_id


async def associate(request: Request) -> Response:
    vr = volume_request(request)
    await call(_qos(request).associate, vr.caller, _id(request), _type_param(request))
    return Response(status_code=202)


async def disassociate(request: Request) -> Response:
    vr = volume_request(request)
    await call(_qos(request).disassociate, vr.caller, _id(request), _type_param(request))
    return Response(status_code=202)


async def disassociate_all(request: Request) -> Response:
    vr = volume_request(request)
    await call(_qos(request).disassociate, vr.caller, _id(request), None)
    return Response(status_code=202)


async def associations(request: Request) -> Response:
    vr = volume_request(request)
    types = await call(_qos(request).associations, vr.caller, _id(request))
    return json_response({"qos_associations": [
        {"association_type": "volume_type", "name": t.name, "id": t.id} for t in types]})
