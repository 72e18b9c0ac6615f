"""Log output of the server: plain lines or one JSON object per line (``log_format``).

Every record logged while a request is handled carries that request's id (the
``x-openstack-request-id`` the client got), also from worker threads: the id lives in a
context variable, which ``asyncio.to_thread`` carries into the thread. JSON lines hold ``time``
(UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id`` (when there is one),
``process`` and, for errors, ``exception`` (the traceback as one string).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time

#: the id of the request being handled; set by the API's request-id middleware.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("cowshed_request_id",
                                                                        default=None)
FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process or os.getpid(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str = "text") -> None:
    """One handler on the root logger (stderr) in ``fmt``; uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestId())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True
