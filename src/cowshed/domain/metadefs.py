"""Metadata definitions (Glance's ``/v2/metadefs``): records and the validation of their bodies.

A *namespace* groups property definitions, objects (named groups of properties) and tags, and is
associated with *resource types* (``OS::Glance::Image``…) under an optional key ``prefix`` and
``properties_target``. The checks here are those of Glance's metadef JSON schemas
(``additionalProperties: false``, the same length limits and property types); a body that fails
one is :class:`~cowshed.errors.InvalidRequest` (400).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cowshed.errors import InvalidRequest


class ItemKind(enum.StrEnum):
    """What a namespace holds besides its associations."""

    OBJECT = "object"
    PROPERTY = "property"
    TAG = "tag"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


NAME_MAX = 80
TAG_MAX = 255
DESCRIPTION_MAX = 500
PROPERTY_TYPES = ("array", "boolean", "integer", "number", "object", "string")
#: what a property definition may hold (Glance's ``PropertyType`` schema); ``name`` is the key.
PROPERTY_KEYS = frozenset({
    "name", "title", "description", "type", "default", "readonly", "operators", "enum",
    "pattern", "minimum", "maximum", "minLength", "maxLength", "items", "uniqueItems",
    "minItems", "maxItems", "additionalItems",
})
#: read-only fields a client may send back from a GET; they are ignored, as Glance does.
READ_ONLY = frozenset({"created_at", "updated_at", "self", "schema"})
NAMESPACE_KEYS = frozenset({
    "namespace", "display_name", "description", "visibility", "protected", "owner",
    "resource_type_associations", "properties", "objects", "tags",
}) | READ_ONLY
OBJECT_KEYS = frozenset({"name", "description", "required", "properties"}) | READ_ONLY
ASSOCIATION_KEYS = frozenset({"name", "prefix", "properties_target"}) | READ_ONLY


@dataclass(frozen=True)
class Namespace:
    id: int
    namespace: str
    display_name: str | None
    description: str | None
    visibility: Visibility
    protected: bool
    owner: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ResourceType:
    name: str
    protected: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Association:
    """A namespace's link to a resource type (``name`` is the resource type's)."""

    name: str
    prefix: str | None
    properties_target: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Item:
    """An object, property definition or tag: its name and its JSON body (without the name)."""

    kind: ItemKind
    name: str
    body: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NamespaceFields:
    """The namespace's own columns, as a create or update body gives them."""

    namespace: str
    display_name: str | None = None
    description: str | None = None
    visibility: Visibility = Visibility.PRIVATE
    protected: bool = False
    owner: str | None = None


@dataclass(frozen=True)
class AssociationFields:
    name: str
    prefix: str | None = None
    properties_target: str | None = None


@dataclass(frozen=True)
class NamespaceDocument:
    """A whole namespace with its contents: a create body or a Glance metadef JSON file."""

    fields: NamespaceFields
    associations: tuple[AssociationFields, ...] = ()
    items: tuple[tuple[ItemKind, str, dict[str, Any]], ...] = field(default=())


def _object(body: object, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return body


def _unknown(body: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise InvalidRequest(f"Additional properties are not allowed in {what}: "
                             f"{', '.join(map(repr, extra))}")


def check_name(value: object, what: str, limit: int = NAME_MAX) -> str:
    """A non-empty string of at most ``limit`` characters that can sit in a URL path."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"{what} is longer than {limit} characters")
    if "/" in value or any(ord(c) < 32 for c in value):
        raise InvalidRequest(f"{what} may not contain '/' or control characters")
    return value


def _optional_text(body: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"{key} must be a string of at most {limit} characters")
    return value


def _bool(body: Mapping[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key} must be a boolean")
    return value


def namespace_fields(body: Mapping[str, Any]) -> NamespaceFields:
    visibility = body.get("visibility", Visibility.PRIVATE.value)
    # a JSON object or array is unhashable: test the type before set membership (was a 500)
    if not isinstance(visibility, str) or visibility not in {v.value for v in Visibility}:
        raise InvalidRequest(f"visibility must be one of public, private (not {visibility!r})")
    return NamespaceFields(
        namespace=check_name(body.get("namespace"), "namespace"),
        display_name=_optional_text(body, "display_name", NAME_MAX),
        description=_optional_text(body, "description", DESCRIPTION_MAX),
        visibility=Visibility(visibility), protected=_bool(body, "protected", False),
        owner=_optional_text(body, "owner", 255),
    )


def association_fields(body: object) -> AssociationFields:
    body = _object(body, "A resource type association")
    _unknown(body, ASSOCIATION_KEYS, "resource_type_association")
    return AssociationFields(
        name=check_name(body.get("name"), "resource type name"),
        prefix=_optional_text(body, "prefix", NAME_MAX),
        properties_target=_optional_text(body, "properties_target", NAME_MAX),
    )


def property_body(body: object, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """Check a property definition; return its name and its body without the name."""
    body = _object(body, "A property definition")
    _unknown(body, PROPERTY_KEYS | READ_ONLY, "property")
    prop_name = check_name(name if name is not None else body.get("name"), "property name",
                           TAG_MAX)
    if not isinstance(body.get("title"), str):
        raise InvalidRequest(f"property {prop_name}: 'title' is a required string")
    if body.get("type") not in PROPERTY_TYPES:
        raise InvalidRequest(f"property {prop_name}: 'type' must be one of "
                             f"{', '.join(PROPERTY_TYPES)}")
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)
                            or body[key] < 0):
            raise InvalidRequest(f"property {prop_name}: {key} must be a non-negative integer")
    for key in ("enum", "operators"):
        if key in body and not isinstance(body[key], list):
            raise InvalidRequest(f"property {prop_name}: {key} must be an array")
    if "items" in body and not isinstance(body["items"], dict):
        raise InvalidRequest(f"property {prop_name}: items must be an object")
    clean = {k: v for k, v in body.items() if k not in READ_ONLY and k != "name"}
    return prop_name, clean


def properties_map(value: object, where: str) -> dict[str, dict[str, Any]]:
    props = _object(value, f"{where} properties")
    return dict(property_body(body, name) for name, body in props.items())


def object_body(body: object) -> tuple[str, dict[str, Any]]:
    body = _object(body, "An object")
    _unknown(body, OBJECT_KEYS, "object")
    name = check_name(body.get("name"), "object name")
    required = body.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise InvalidRequest(f"object {name}: required must be an array of strings")
    clean: dict[str, Any] = {"required": required,
                             "properties": properties_map(body.get("properties", {}), name)}
    description = _optional_text(body, "description", DESCRIPTION_MAX)
    if description is not None:
        clean["description"] = description
    return name, clean


def tag_name(body: object) -> str:
    body = _object(body, "A tag")
    _unknown(body, frozenset({"name"}) | READ_ONLY, "tag")
    return check_name(body.get("name"), "tag name", TAG_MAX)


def namespace_document(body: object) -> NamespaceDocument:
    """A create body or a Glance metadef file: the namespace and everything in it."""
    body = _object(body, "A namespace")
    _unknown(body, NAMESPACE_KEYS, "namespace")
    assocs = body.get("resource_type_associations", [])
    objects = body.get("objects", [])
    tags = body.get("tags", [])
    for key, value in (("resource_type_associations", assocs), ("objects", objects),
                       ("tags", tags)):
        if not isinstance(value, list):
            raise InvalidRequest(f"{key} must be an array")
    items: list[tuple[ItemKind, str, dict[str, Any]]] = [
        (ItemKind.PROPERTY, n, b)
        for n, b in properties_map(body.get("properties", {}), "namespace").items()]
    items += [(ItemKind.OBJECT, *object_body(o)) for o in objects]
    items += [(ItemKind.TAG, tag_name(t), {}) for t in tags]
    _no_duplicates(items)
    associations = tuple(association_fields(a) for a in assocs)
    if len({a.name for a in associations}) != len(associations):
        raise InvalidRequest("A resource type is associated twice")
    return NamespaceDocument(namespace_fields(body), associations, tuple(items))


def _no_duplicates(items: list[tuple[ItemKind, str, dict[str, Any]]]) -> None:
    seen: set[tuple[ItemKind, str]] = set()
    for kind, name, _ in items:
        if (kind, name) in seen:
            raise InvalidRequest(f"Duplicate {kind} {name!r} in the namespace")
        seen.add((kind, name))


#: columns a namespace list may be sorted on (Glance's metadef list sort keys).
NAMESPACE_SORT_KEYS = ("created_at", "updated_at", "namespace")


@dataclass(frozen=True)
class NamespaceQuery:
    """``GET /v2/metadefs/namespaces``, already validated by the API layer."""

    visibility: Visibility | None = None
    resource_types: tuple[str, ...] = ()
    sort_key: str = "created_at"
    ascending: bool = False
    limit: int = 25
    marker: str | None = None
