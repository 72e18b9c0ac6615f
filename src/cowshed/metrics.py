"""Prometheus metrics of one deployment, exposed at ``/metrics``.

Metric objects live here (not in ``api`` or ``services``) because both layers record into them:
the HTTP layer counts requests, bytes and latencies per route, the services count backend
errors and imports. With several server processes (``cowshed serve --workers N``) each process
writes its samples into ``$PROMETHEUS_MULTIPROC_DIR`` (set by the parent before the workers
start) and :func:`exposition` merges them, so any worker answers for all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

#: latency buckets, seconds: from a cached show (~1 ms) to a multi-GiB upload.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0, 60.0, 300.0, 1800.0)

REQUESTS = Counter("cowshed_http_requests", "HTTP requests answered, by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("cowshed_http_request_duration_seconds",
                    "Seconds from the first byte of a request to the last byte of its answer",
                    ["method", "route"], buckets=_LATENCY)
BYTES_IN = Counter("cowshed_http_received_bytes", "Request body bytes received", ["route"])
BYTES_OUT = Counter("cowshed_http_sent_bytes", "Response body bytes sent", ["route"])
BACKEND_ERRORS = Counter("cowshed_backend_errors",
                         "Requests failed by a store or the database (503, 507, 413 full)",
                         ["kind"])
IMPORTS = Counter("cowshed_imports", "Image imports finished, by method and result",
                  ["method", "result"])


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric (of every worker process) and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
