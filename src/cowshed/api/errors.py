"""The one table from the error tree to HTTP, and the error body Glance clients parse.

Bodies follow webob (which Glance uses): JSON ``{"message", "code", "title"}`` when the client
accepts JSON, else the plain-text form ``"404 Not Found\\n\\n<message>\\n\\n   "`` that
python-glanceclient turns into its exception details.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response

from cowshed import errors as e
from cowshed import metrics
from cowshed.api.streams import StreamAborted

log = logging.getLogger(__name__)

#: Looked up along the exception's MRO, so the most specific class wins.
STATUS: Mapping[type[e.CowshedError], int] = {
    e.NotFound: 404,
    e.AlreadyExists: 409,
    e.Conflict: 409,
    e.InvalidRequest: 400,
    e.RangeNotSatisfiable: 416,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.UnsupportedMediaType: 415,
    # Glance answers a failed format check on upload with 415 (InvalidImageData with
    # require_image_format_match); staged data gets the same answer here.
    e.UnsafeImage: 415,
    e.UnsupportedOperation: 400,
    e.StorageFull: 413,
    e.TooManyRequests: 429,
    e.Gone: 410,
    e.BackendUnavailable: 503,
    e.ConfigError: 500,
    e.ExternalToolError: 500,
    e.CowshedError: 500,
}


#: Where the Block Storage API answers differently from the table above, as Cinder does: a
#: request that clashes with a volume's status is its InvalidVolume/InvalidSnapshot (400), a bad
#: image for a volume its ImageUnacceptable (400), and quota or size caps its 413 overLimit.
VOLUME_STATUS: Mapping[type[e.CowshedError], int] = {
    e.Conflict: 400,
    e.UnsafeImage: 400,
    e.AlreadyExists: 409,
    e.Gone: 404,
    e.RangeNotSatisfiable: 400,
}


def status_for(exc: e.CowshedError,
               overrides: Mapping[type[e.CowshedError], int] | None = None) -> int:
    """The status for ``exc``: the most specific class along its MRO in ``overrides`` first,
    then in STATUS."""
    for cls in type(exc).__mro__:
        if overrides and cls in overrides:
            return overrides[cls]
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(request: Request | None, status: int, message: str,
                   headers: Mapping[str, str] | None = None) -> Response:
    """An error in webob's shape, JSON, HTML or plain text by the Accept header.

    openstacksdk sends ``Accept:`` empty on uploads, stages and downloads, and keeps an error's
    reason only from a JSON or HTML body: webob (Glance) answers such a request in plain text,
    so `openstack image create` shows a bare "415 Unsupported Media Type". Here an empty Accept
    gets webob's HTML form instead, which the SDK (and python-glanceclient) reduce to
    "415 Unsupported Media Type: <reason>". Every other Accept is answered as webob would.
    """
    phrase = HTTPStatus(status).phrase
    accept = request.headers.get("accept") if request is not None else None
    if accept is not None and "json" in accept:
        body = json.dumps({"message": message, "code": f"{status} {phrase}", "title": phrase})
        return Response(body, status, headers=dict(headers or {}), media_type="application/json")
    if accept is not None and not accept.strip():
        return Response(_html(status, phrase, message), status, headers=dict(headers or {}),
                        media_type="text/html")
    text = f"{status} {phrase}\n\n{message}\n\n   "
    return Response(text, status, headers=dict(headers or {}), media_type="text/plain")


def _html(status: int, phrase: str, message: str) -> str:
    """webob's HTML error page (``WSGIHTTPException.html_template_obj``), message escaped."""
    return (f"<html>\n <head>\n  <title>{status} {phrase}</title>\n </head>\n <body>\n"
            f"  <h1>{status} {phrase}</h1>\n  {html.escape(message)}<br /><br />\n\n\n"
            f" </body>\n</html>")


def handle_cowshed_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.CowshedError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.UnsupportedMediaType) and exc.accept:
        headers["Accept-Patch"] = ", ".join(exc.accept)
    if isinstance(exc, e.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, e.RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, (e.BackendUnavailable, e.ExternalToolError)):
        metrics.BACKEND_ERRORS.labels(type(exc).__name__).inc()
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return error_response(request, status, exc.message, headers)


def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    """The client left mid-request (the services already undid their work): nobody reads
    this answer, and it is no server error."""
    log.info("client went away during %s %s", request.method, request.url.path)
    return error_response(request, 400, "The client closed the connection before the "
                          "request body was complete.")


def handle_unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StreamAborted):  # logged where it was raised; the answer is already out
        return Response(status_code=500)
    if type(exc).__module__.startswith("sqlalchemy"):
        metrics.BACKEND_ERRORS.labels("database").inc()
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "The server has either erred or is incapable of "
                          "performing the requested operation.")
