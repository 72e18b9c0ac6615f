"""The ``/v2/metadefs`` route table (part of the Image API v2, mounted with it)."""

from __future__ import annotations

from cowshed.api.metadefs import handlers as h
from cowshed.api.routing import Table
from cowshed.domain.metadefs import ItemKind

_NS = "/v2/metadefs/namespaces/{namespace}"
_COLLECTIONS = {ItemKind.OBJECT: "objects", ItemKind.PROPERTY: "properties"}


def table() -> Table:
    """(method, path, handler) for every metadefs operation."""
    rows = [
        ("GET", "/v2/schemas/metadefs/{name}", h.schema),
        ("GET", "/v2/metadefs/resource_types", h.list_resource_types),
        ("GET", "/v2/metadefs/namespaces", h.list_namespaces),
        ("POST", "/v2/metadefs/namespaces", h.create_namespace),
        ("GET", _NS, h.show_namespace),
        ("PUT", _NS, h.update_namespace),
        ("DELETE", _NS, h.delete_namespace),
        ("GET", _NS + "/resource_types", h.list_associations),
        ("POST", _NS + "/resource_types", h.create_association),
        ("DELETE", _NS + "/resource_types/{resource_type}", h.delete_association),
        ("GET", _NS + "/tags", h.list_items(ItemKind.TAG)),
        ("POST", _NS + "/tags", h.create_tags),
        ("DELETE", _NS + "/tags", h.delete_items(ItemKind.TAG)),
        ("GET", _NS + "/tags/{name}", h.show_item(ItemKind.TAG)),
        ("POST", _NS + "/tags/{name}", h.create_tag),
        ("PUT", _NS + "/tags/{name}", h.update_item(ItemKind.TAG)),
        ("DELETE", _NS + "/tags/{name}", h.delete_item(ItemKind.TAG)),
    ]
    for kind, path in _COLLECTIONS.items():
        rows += [
            ("GET", f"{_NS}/{path}", h.list_items(kind)),
            ("POST", f"{_NS}/{path}", h.create_item(kind)),
            ("DELETE", f"{_NS}/{path}", h.delete_items(kind)),
            ("GET", f"{_NS}/{path}/{{name}}", h.show_item(kind)),
            ("PUT", f"{_NS}/{path}/{{name}}", h.update_item(kind)),
            ("DELETE", f"{_NS}/{path}/{{name}}", h.delete_item(kind)),
        ]
    return rows
