"""The JSON-Schema documents under ``/v2/schemas/metadefs/…`` (names as Glance gives them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cowshed.domain.metadefs import DESCRIPTION_MAX, NAME_MAX, PROPERTY_TYPES, TAG_MAX

_TIMES = {
    "created_at": {"type": "string", "readOnly": True, "format": "date-time",
                   "description": "Date and time of creation"},
    "updated_at": {"type": "string", "readOnly": True, "format": "date-time",
                   "description": "Date and time of the last modification"},
}
_LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}]


def _str(limit: int, description: str) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, "description": description}


def property_schema() -> dict[str, Any]:
    return {
        "name": "property",
        "properties": {
            "name": _str(TAG_MAX, "The property's key"),
            "title": {"type": "string"},
            "description": {"type": "string"},
            "type": {"type": "string", "enum": [*PROPERTY_TYPES, None]},
            "default": {},
            "readonly": {"type": "boolean"},
            "operators": {"type": "array", "items": {"type": "string"}},
            "enum": {"type": "array"},
            "pattern": {"type": "string", "format": "regex"},
            "minimum": {"type": "number"}, "maximum": {"type": "number"},
            "minLength": {"type": "integer", "minimum": 0},
            "maxLength": {"type": "integer", "minimum": 0},
            "items": {"type": "object"},
            "uniqueItems": {"type": "boolean", "default": False},
            "minItems": {"type": "integer", "minimum": 0},
            "maxItems": {"type": "integer", "minimum": 0},
            "additionalItems": {"type": "boolean"},
        },
        "required": ["name", "title", "type"],
        "additionalProperties": False,
    }


def properties_schema() -> dict[str, Any]:
    return {"name": "properties",
            "properties": {"properties": {"type": "object",
                                          "additionalProperties": property_schema()}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def object_schema() -> dict[str, Any]:
    return {
        "name": "object",
        "properties": {
            "name": _str(NAME_MAX, "The object's name"),
            "description": _str(DESCRIPTION_MAX, "What the object groups"),
            "required": {"type": "array", "items": {"type": "string"}},
            "properties": {"type": "object", "additionalProperties": property_schema()},
            "schema": {"type": "string", "readOnly": True},
            "self": {"type": "string", "readOnly": True}, **_TIMES,
        },
        "required": ["name"], "additionalProperties": False, "links": _LINKS,
    }


def tag_schema() -> dict[str, Any]:
    return {"name": "tag",
            "properties": {"name": _str(TAG_MAX, "The tag"), **_TIMES},
            "required": ["name"], "additionalProperties": False}


def association_schema() -> dict[str, Any]:
    return {
        "name": "resource_type_association",
        "properties": {
            "name": _str(NAME_MAX, "Resource type names should be aligned with Heat resource "
                         "types whenever possible, e.g. OS::Glance::Image"),
            "prefix": _str(NAME_MAX, "Prefix the resource type adds to the namespace's "
                           "property names, e.g. hw_ for images, hw: for flavors"),
            "properties_target": _str(NAME_MAX, "Where the properties go on a resource type "
                                      "with several places for them, e.g. image"),
            **_TIMES,
        },
        "required": ["name"], "additionalProperties": False,
    }


def namespace_schema() -> dict[str, Any]:
    return {
        "name": "namespace",
        "properties": {
            "namespace": _str(NAME_MAX, "The unique namespace text"),
            "display_name": _str(NAME_MAX, "The user friendly name for the namespace"),
            "description": _str(DESCRIPTION_MAX, "Provides a user friendly description"),
            "visibility": {"type": "string", "enum": ["public", "private"],
                           "description": "Scope of namespace accessibility"},
            "protected": {"type": "boolean",
                          "description": "If true, namespace will not be deletable."},
            "owner": _str(255, "Owner of the namespace"),
            "resource_type_associations": {"type": "array", "items": association_schema()},
            "properties": {"type": "object", "additionalProperties": property_schema()},
            "objects": {"type": "array", "items": object_schema()},
            "tags": {"type": "array", "items": tag_schema()},
            "schema": {"type": "string", "readOnly": True},
            "self": {"type": "string", "readOnly": True}, **_TIMES,
        },
        "required": ["namespace"], "additionalProperties": False, "links": _LINKS,
    }


def _collection(name: str, key: str, item: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        return {"name": name,
                "properties": {key: {"type": "array", "items": item()},
                               "schema": {"type": "string"}, "first": {"type": "string"},
                               "next": {"type": "string"}},
                "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                          {"rel": "describedby", "href": "{schema}"}]}
    return build


METADEF_SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "namespace": namespace_schema,
    "namespaces": _collection("namespaces", "namespaces", namespace_schema),
    "resource_type": association_schema,
    "resource_types": _collection("resource_type_associations", "resource_type_associations",
                                  association_schema),
    "object": object_schema,
    "objects": _collection("objects", "objects", object_schema),
    "property": property_schema,
    "properties": properties_schema,
    "tag": tag_schema,
    "tags": _collection("tags", "tags", tag_schema),
}
