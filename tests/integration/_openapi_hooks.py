"""schemathesis hooks for the Image API description, loaded by the fuzz test in-process and by
the ``st`` command it runs (``SCHEMATHESIS_HOOKS=tests.integration._openapi_hooks``)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/openstack-images-v2.1-json-patch",
                         "application/openstack-images-v2.0-json-patch")
def json_patch(ctx: Any, value: Any) -> bytes:
    """Glance's two JSON-patch media types are JSON documents."""
    return json.dumps(value).encode()
