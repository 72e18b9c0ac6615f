"""Handlers for image members: ``/v2/images/{id}/members[/{member_id}]``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.auth import request_context
from cowshed.api.common import call, json_response, read_json, services
from cowshed.api.image.views import isotime
from cowshed.domain.members import ImageMember
from cowshed.errors import InvalidRequest
from cowshed.services.images.members import parse_status


def member_view(member: ImageMember) -> dict[str, Any]:
    return {
        "image_id": member.image_id, "member_id": member.member_id,
        "status": str(member.status), "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at), "schema": "/v2/schemas/member",
    }


def _body(value: object, key: str) -> object:
    if not isinstance(value, dict) or key not in value:
        raise InvalidRequest(f"The request body must be an object with '{key}'.")
    return value[key]


async def list_members(request: Request) -> Response:
    found = await call(services(request).members.list_members, request_context(request),
                       request.path_params["image_id"])
    return json_response({"members": [member_view(m) for m in found],
                          "schema": "/v2/schemas/members"})


async def add_member(request: Request) -> Response:
    member_id = _body(await read_json(request), "member")
    member = await call(services(request).members.add_member, request_context(request),
                        request.path_params["image_id"], member_id)
    return json_response(member_view(member))


async def show_member(request: Request) -> Response:
    p = request.path_params
    member = await call(services(request).members.get_member, request_context(request),
                        p["image_id"], p["member_id"])
    return json_response(member_view(member))


async def update_member(request: Request) -> Response:
    status = parse_status(_body(await read_json(request), "status"))
    p = request.path_params
    member = await call(services(request).members.set_status, request_context(request),
                        p["image_id"], p["member_id"], status)
    return json_response(member_view(member))


async def remove_member(request: Request) -> Response:
    p = request.path_params
    await call(services(request).members.remove_member, request_context(request),
               p["image_id"], p["member_id"])
    return Response(status_code=204)
