"""``POST /v3/volumes/{id}/action``: one handler per action name (Cinder's ``volume_actions``,
``admin_actions``, ``volume_image_metadata`` and the revert action).

Cinder answers an unknown action with 400 "There is no such action", a body that is not one
``{"name": {...}}`` pair with 400 "Malformed request body", and an action newer than the
request's microversion as if it did not exist (404).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import call, json_response, services
from cowshed.api.volume import body
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import VolumeRequest, volume_request
from cowshed.api.volume.views import isotime, type_view
from cowshed.domain.volumes import AttachMode, AttachStatus, VolumeStatus
from cowshed.errors import InvalidRequest, InvalidState, NotFound
from cowshed.services.volumes import VolumeService

Handler = Callable[[Request, VolumeRequest, str, dict[str, Any]], Awaitable[Response]]
#: disk formats ``os-volume_upload_image`` accepts (Cinder's list).
UPLOAD_FORMATS = ("raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop")
_ACCEPTED = 202


def _svc(request: Request) -> VolumeService:
    return services(request).volumes


def _accepted() -> Response:
    return Response(status_code=_ACCEPTED)


async def extend(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                 ) -> Response:
    new_size = body.size("new_size", args.get("new_size"))
    assert new_size is not None
    if vr.version < mv.VOLUME_EXTEND_INUSE:
        volume = await call(_svc(request).get, vr.caller, vid)
        if volume.status is not VolumeStatus.AVAILABLE:
            raise InvalidState(f"Invalid volume: Volume status must be available to extend, "
                               f"but current status is: {volume.status}.")
    await call(_svc(request).extend, vr.caller, vid, new_size)
    return _accepted()


def _enum(kind: type[VolumeStatus] | type[AttachStatus], value: Any, what: str) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidRequest(f"Must specify a valid {what}") from None


async def retype(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                 ) -> Response:
    new_type = args.get("new_type")
    if not isinstance(new_type, str) or not new_type:
        raise InvalidRequest("Invalid input for field/attribute new_type: a volume type name "
                             "or id is required")
    policy = args.get("migration_policy") or "never"
    if policy not in ("never", "on-demand"):
        raise InvalidRequest(f"Invalid migration_policy {policy!r}: 'never' or 'on-demand'")
    await call(functools.partial(_svc(request).retype, vr.caller, vid, new_type,
                                 migration_policy=policy))
    return _accepted()


async def reset_status(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                       ) -> Response:
    status = _enum(VolumeStatus, args.get("status"), "status")
    attach_status = _enum(AttachStatus, args.get("attach_status"), "attach status")
    migration = args.get("migration_status")
    if status is None and attach_status is None and migration is None:
        raise InvalidRequest("Must specify 'status', 'attach_status' or 'migration_status' for "
                             "update.")
    await call(functools.partial(_svc(request).reset_status, vr.caller, vid, status=status,
                                 attach_status=attach_status, migration_status=migration))
    return _accepted()


async def upload_image(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                       ) -> Response:
    name = args.get("image_name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("No image_name was specified in request.")
    disk_format = args.get("disk_format", "raw")
    if disk_format not in UPLOAD_FORMATS:
        raise InvalidRequest(f"Invalid disk-format '{disk_format}' is specified. Allowed "
                             f"disk-formats are {', '.join(UPLOAD_FORMATS)}.")
    container = args.get("container_format", "bare")
    if not isinstance(container, str):
        raise InvalidRequest(f"Invalid container-format {container!r}")
    visibility, protected = None, False
    if vr.version >= mv.UPLOAD_IMAGE_VISIBILITY:
        visibility = body.text("visibility", args.get("visibility"))
        protected = body.boolean("protected", args.get("protected"))
    svc = _svc(request)
    upload = await call(functools.partial(
        svc.upload_to_image, vr.caller, vid, image_name=name, disk_format=disk_format,
        container_format=container, force=body.boolean("force", args.get("force")),
        visibility=visibility, protected=protected))
    volume = upload.volume
    vtype = await call(svc.get_type, vr.caller, volume.volume_type)
    answer: dict[str, Any] = {
        "id": volume.id, "updated_at": isotime(volume.updated_at), "status": str(volume.status),
        "display_description": volume.description, "size": volume.size,
        "volume_type": type_view(vtype, vr.caller.is_admin), "image_id": upload.image_id,
        "container_format": upload.container_format, "disk_format": upload.disk_format,
        "image_name": upload.image_name,
    }
    if vr.version >= mv.UPLOAD_IMAGE_VISIBILITY:
        answer["visibility"] = visibility or "private"
        answer["protected"] = protected
    return json_response({"os-volume_upload_image": answer}, _ACCEPTED)


async def revert(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                 ) -> Response:
    if vr.version < mv.VOLUME_REVERT:
        raise NotFound("The resource could not be found.")
    snapshot_id = args.get("snapshot_id")
    if not isinstance(snapshot_id, str) or not snapshot_id:
        raise InvalidRequest("Invalid input for field/attribute snapshot_id.")
    await call(_svc(request).revert_to_snapshot, vr.caller, vid, snapshot_id)
    return _accepted()


async def attach(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                 ) -> Response:
    mountpoint = args.get("mountpoint")
    if not isinstance(mountpoint, str):
        raise InvalidRequest("Invalid input for field/attribute os-attach: 'mountpoint' is a "
                             "required property")
    instance = body.text("instance_uuid", args.get("instance_uuid"))
    host = body.text("host_name", args.get("host_name"))
    if instance is None and host is None:
        raise InvalidRequest("Invalid request to attach volume to an invalid target")
    mode = args.get("mode", "rw")
    if mode not in ("rw", "ro"):
        raise InvalidRequest("Invalid request to attach volume with an invalid mode. "
                             "Attaching mode should be 'rw' or 'ro'")
    await call(functools.partial(_svc(request).attach, vr.caller, vid, instance_uuid=instance,
                                 mountpoint=mountpoint, host_name=host, mode=AttachMode(mode)))
    return _accepted()


async def detach(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                 ) -> Response:
    attachment = body.text("attachment_id", args.get("attachment_id"))
    await call(_svc(request).detach, vr.caller, vid, attachment)
    return _accepted()


def _simple(method: str) -> Handler:
    """An action that takes no arguments and answers 202 (os-reserve and friends)."""

    async def handler(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                      ) -> Response:
        await call(getattr(_svc(request), method), vr.caller, vid)
        return _accepted()

    return handler


def _connector(args: dict[str, Any]) -> dict[str, Any]:
    connector = args.get("connector")
    if not isinstance(connector, dict):
        raise InvalidRequest("Must specify 'connector'")
    return connector


async def initialize_connection(request: Request, vr: VolumeRequest, vid: str,
                                args: dict[str, Any]) -> Response:
    info = await call(_svc(request).initialize_connection, vr.caller, vid, _connector(args))
    return json_response({"connection_info": info.as_dict()})


async def terminate_connection(request: Request, vr: VolumeRequest, vid: str,
                               args: dict[str, Any]) -> Response:
    await call(_svc(request).terminate_connection, vr.caller, vid, _connector(args))
    return _accepted()


async def set_bootable(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                       ) -> Response:
    if "bootable" not in args:
        raise InvalidRequest("Must specify bootable in request.")
    await call(_svc(request).set_bootable, vr.caller, vid,
               body.boolean("bootable", args["bootable"]))
    return Response(status_code=200)


async def update_readonly(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                          ) -> Response:
    if "readonly" not in args:
        raise InvalidRequest("Must specify readonly in request.")
    await call(_svc(request).set_readonly, vr.caller, vid,
               body.boolean("readonly", args["readonly"]))
    return _accepted()


async def force_delete(request: Request, vr: VolumeRequest, vid: str, args: dict[str, Any]
                       ) -> Response:
    await call(functools.partial(_svc(request).delete, vr.caller, vid, force=True))
    return _accepted()


async def set_image_metadata(request: Request, vr: VolumeRequest, vid: str,
                             args: dict[str, Any]) -> Response:
    meta = body.metadata("metadata", args.get("metadata"))
    if meta is None:
        raise InvalidRequest("Malformed request body")
    result = await call(_svc(request).set_image_metadata, vr.caller, vid, meta)
    return json_response({"metadata": dict(result)})


async def unset_image_metadata(request: Request, vr: VolumeRequest, vid: str,
                               args: dict[str, Any]) -> Response:
    key = args.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("Malformed request body")
    await call(_svc(request).unset_image_metadata, vr.caller, vid, key)
    return Response(status_code=200)


async def show_image_metadata(request: Request, vr: VolumeRequest, vid: str,
                              args: dict[str, Any]) -> Response:
    volume = await call(_svc(request).get, vr.caller, vid)
    return json_response({"metadata": dict(volume.image_metadata)})


ACTIONS: dict[str, Handler] = {
    "os-extend": extend,
    "os-reset_status": reset_status,
    "os-retype": retype,
    "os-volume_upload_image": upload_image,
    "revert": revert,
    "os-attach": attach,
    "os-detach": detach,
    "os-force_detach": detach,
    "os-reserve": _simple("reserve"),
    "os-unreserve": _simple("unreserve"),
    "os-begin_detaching": _simple("begin_detaching"),
    "os-roll_detaching": _simple("roll_detaching"),
    "os-initialize_connection": initialize_connection,
    "os-terminate_connection": terminate_connection,
    "os-set_bootable": set_bootable,
    "os-update_readonly_flag": update_readonly,
    "os-force_delete": force_delete,
    "os-set_image_metadata": set_image_metadata,
    "os-unset_image_metadata": unset_image_metadata,
    "os-show_image_metadata": show_image_metadata,
}


async def volume_action(request: Request) -> Response:
    vr = volume_request(request)
    name, args = await body.action(request)
    handler = ACTIONS.get(name)
    if handler is None:
        raise InvalidRequest(f"There is no such action: {name}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidRequest(f"Invalid input for field/attribute {name}. Value: {args!r}. "
                             f"{args!r} is not of type 'object', 'null'")
    return await handler(request, vr, request.path_params["volume_id"], args)
