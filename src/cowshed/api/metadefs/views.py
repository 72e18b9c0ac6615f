"""The JSON shapes of metadef records, as Glance's metadef serializers write them."""

from __future__ import annotations

from typing import Any

from cowshed.api.image.views import isotime
from cowshed.domain.metadefs import Association, Item, ResourceType
from cowshed.services.metadefs.service import NamespaceDetail

NS_PATH = "/v2/metadefs/namespaces"


def _times(record: Association | Item | ResourceType) -> dict[str, Any]:
    return {"created_at": isotime(record.created_at), "updated_at": isotime(record.updated_at)}


def association_view(assoc: Association) -> dict[str, Any]:
    out: dict[str, Any] = {"name": assoc.name}
    if assoc.prefix is not None:
        out["prefix"] = assoc.prefix
    if assoc.properties_target is not None:
        out["properties_target"] = assoc.properties_target
    return {**out, **_times(assoc)}


def resource_type_view(rt: ResourceType) -> dict[str, Any]:
    return {"name": rt.name, **_times(rt)}


def property_view(item: Item) -> dict[str, Any]:
    return {"name": item.name, **item.body}


def properties_view(items: tuple[Item, ...] | list[Item]) -> dict[str, Any]:
    return {i.name: dict(i.body) for i in items}


def object_view(namespace: str, item: Item) -> dict[str, Any]:
    return {"name": item.name, **item.body, **_times(item),
            "self": f"{NS_PATH}/{namespace}/objects/{item.name}",
            "schema": "/v2/schemas/metadefs/object"}


def tag_view(item: Item) -> dict[str, Any]:
    return {"name": item.name, **_times(item)}


def namespace_view(detail: NamespaceDetail, full: bool = True) -> dict[str, Any]:
    ns = detail.namespace
    out: dict[str, Any] = {"namespace": ns.namespace}
    if ns.display_name is not None:
        out["display_name"] = ns.display_name
    if ns.description is not None:
        out["description"] = ns.description
    out.update({"visibility": ns.visibility.value, "protected": ns.protected, "owner": ns.owner,
                "created_at": isotime(ns.created_at), "updated_at": isotime(ns.updated_at),
                "self": f"{NS_PATH}/{ns.namespace}",
                "schema": "/v2/schemas/metadefs/namespace"})
    if detail.associations:
        out["resource_type_associations"] = [association_view(a) for a in detail.associations]
    if full:
        if detail.properties:
            out["properties"] = properties_view(detail.properties)
        if detail.objects:
            out["objects"] = [object_view(ns.namespace, o) for o in detail.objects]
        if detail.tags:
            out["tags"] = [tag_view(t) for t in detail.tags]
    return out
