"""Version discovery: ``GET /volume/`` (300, every version) and ``GET /volume/v3/`` (200).

The document is Cinder's (``cinder/api/views/versions.py``); keystoneauth reads ``version`` and
``min_version`` from it to pick a microversion, and follows the ``self`` link.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cowshed.api.common import json_response
from cowshed.api.volume import microversion as mv
from cowshed.api.volume.context import volume_request

#: when the newest microversion (3.71) appeared in Cinder.
UPDATED = "2023-08-31T00:00:00Z"


def version_document(public_root: str) -> dict[str, Any]:
    return {
        "id": "v3.0", "status": "CURRENT", "version": str(mv.MAX),
        "min_version": str(mv.MIN), "updated": UPDATED,
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": f"{public_root}/v3/"},
        ],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.volume+json;version=3"}],
    }


async def all_versions(request: Request) -> Response:
    return json_response({"versions": [version_document(volume_request(request).public_root)]},
                         300)


async def v3(request: Request) -> Response:
    return json_response({"versions": [version_document(volume_request(request).public_root)]})
