"""``GET /healthcheck`` (Glance's path, oslo.middleware's answers) and ``GET /metrics``.

``/healthcheck`` answers ``200 OK`` when the database and every store answer, else ``503`` with
the failed checks; with ``Accept: application/json`` the body lists every check. Both paths are
public (no token), as load balancers and Prometheus call them.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from cowshed import metrics
from cowshed.api.common import json_response, services
from cowshed.services.health import HealthReport


async def healthcheck(request: Request) -> Response:
    report: HealthReport = await asyncio.to_thread(services(request).health.check)
    status = 200 if report.ok else 503
    if "json" in request.headers.get("accept", ""):
        return json_response({
            "status": "ok" if report.ok else "fail",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail, "seconds": round(c.seconds, 4)}
                       for c in report.checks},
        }, status)
    if report.ok:
        return Response("OK", status, media_type="text/plain")
    failed = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.ok)
    return Response(f"FAIL: {failed}", status, media_type="text/plain")


async def prometheus(request: Request) -> Response:
    body, content_type = metrics.exposition()
    return Response(body, 200, media_type=content_type)
