"""Validation of a POST /v2/images/{id}/import body (400 on anything malformed)."""

from __future__ import annotations

from dataclasses import dataclass

from cowshed.config import Settings
from cowshed.errors import InvalidRequest
from cowshed.services.images.webdownload import check_uri

METHODS = ("glance-direct", "web-download", "copy-image")
#: longest web-download URI accepted (a long presigned URL fits; 64 KiB of path does not, and
#: would only fail later in the worker, after a 202).
MAX_URI_LENGTH = 8192


@dataclass(frozen=True)
class ImportRequest:
    method: str
    uri: str
    stores: tuple[str, ...]
    all_stores: bool
    all_stores_must_succeed: bool


def parse_import_request(body: object, settings: Settings, stores: list[str],
                         header_store: str | None = None) -> ImportRequest:
    """Check an import body; ``header_store`` (X-Image-Meta-Store) stands for ``stores``."""
    if not isinstance(body, dict):
        raise InvalidRequest("Import request body must be a JSON object")
    method = body.get("method")
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        raise InvalidRequest("Import request requires a 'method' object with a 'name'")
    name = method["name"]
    if name not in METHODS or name not in settings.enabled_import_methods:
        raise InvalidRequest(f"Import method {name} is not valid for this deployment")
    uri = method.get("uri", "")
    if name == "web-download":
        if not isinstance(uri, str) or not uri:
            raise InvalidRequest("web-download requires method.uri")
        if len(uri) > MAX_URI_LENGTH:
            raise InvalidRequest(f"method.uri is longer than {MAX_URI_LENGTH} characters")
        check_uri(uri, settings)
    requested = body.get("stores")
    all_stores = body.get("all_stores", False)
    if header_store is not None:
        if requested is not None or all_stores:
            raise InvalidRequest("The X-Image-Meta-Store header cannot be combined with "
                                 "stores or all_stores")
        requested = [header_store]
    must = body.get("all_stores_must_succeed", True)
    if not isinstance(all_stores, bool) or not isinstance(must, bool):
        raise InvalidRequest("all_stores and all_stores_must_succeed must be booleans")
    if requested is not None and (
        not isinstance(requested, list) or not all(isinstance(s, str) for s in requested)
    ):
        raise InvalidRequest("stores must be a list of store names")
    # Glance ignores all_stores without multi-store (Tempest sends all_stores=true by
    # default): every store is then the one store
    if not settings.multistore and (requested or not must):
        raise InvalidRequest("stores and all_stores_must_succeed need multiple "
                             "stores to be enabled")
    if requested and all_stores:
        raise InvalidRequest("stores and all_stores cannot be used together")
    for store in requested or []:
        if store not in stores:
            raise InvalidRequest(f"Unknown store {store}")
    return ImportRequest(name, uri if isinstance(uri, str) else "",
                         tuple(dict.fromkeys(requested or ())), all_stores, must)
