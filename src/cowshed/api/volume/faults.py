"""Cinder's error body: ``{"<faultName>": {"code": N, "message": "..."}}``.

The names are ``cinder/api/openstack/wsgi.py`` ``Fault._fault_names``; any other status is a
``computeFault``. Clients (cinderclient, openstacksdk, Tempest) read the message from the one
key of the body, whatever its name.
"""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.responses import Response

from cowshed import errors as e
from cowshed.api.errors import VOLUME_STATUS, status_for

log = logging.getLogger(__name__)

FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
    405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
    501: "notImplemented", 503: "serviceUnavailable",
}
NOT_FOUND = "The resource could not be found."
SERVER_ERROR = ("The server has either erred or is incapable of performing the requested "
                "operation.")


def fault_body(status: int, message: str) -> bytes:
    name = FAULT_NAMES.get(status, "computeFault")
    return json.dumps({name: {"code": status, "message": message}}).encode()


def fault(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(fault_body(status, message), status, headers=headers,
                    media_type="application/json")


def fault_for(exc: BaseException, method: str, path: str) -> Response:
    """The answer to an exception a handler raised (the error tree, a routing error or a bug)."""
    if isinstance(exc, e.CowshedError):
        status = status_for(exc, VOLUME_STATUS)
        if status >= 500:
            log.error("%s %s failed: %s", method, path, exc.message)
        return fault(status, exc.message)
    if isinstance(exc, HTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            return fault(404, NOT_FOUND, headers)
        if exc.status_code == 405:
            return fault(405, "The method is not allowed for this resource.", headers)
        return fault(exc.status_code, str(exc.detail), headers)
    if isinstance(exc, NotImplementedError):
        # an operation the volume service does not offer (yet): Cinder's 501
        return fault(501, "The requested operation is not implemented.")
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return fault(500, SERVER_ERROR)
