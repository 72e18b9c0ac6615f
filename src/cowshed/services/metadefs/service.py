"""Metadata definitions: namespaces and what they hold, with Glance's policy and protection.

Reading follows visibility: a private namespace exists only for its owner's project and admins
(anyone else gets 404, so names do not leak). Changing anything needs the ``metadef_admin``
rule (admin by default, as in Glance). A protected namespace cannot be deleted, nor can anything
in it (403) until ``protected`` is set to false.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cowshed.db.repository import Repository
from cowshed.domain.context import RequestContext
from cowshed.domain.metadefs import (
    Association,
    Item,
    ItemKind,
    Namespace,
    NamespaceQuery,
    ResourceType,
    association_fields,
    check_name,
    namespace_document,
    namespace_fields,
    object_body,
    property_body,
    tag_name,
)
from cowshed.errors import Conflict, Forbidden, InvalidRequest, NotFound
from cowshed.services.context import Deps

_ADD = {ItemKind.OBJECT: "add_metadef_object", ItemKind.PROPERTY: "add_metadef_property",
        ItemKind.TAG: "add_metadef_tag"}
_MODIFY = {ItemKind.OBJECT: "modify_metadef_object",
           ItemKind.PROPERTY: "modify_metadef_property", ItemKind.TAG: "modify_metadef_tag"}
_DELETE = {ItemKind.OBJECT: "delete_metadef_object",
           ItemKind.PROPERTY: "remove_metadef_property", ItemKind.TAG: "delete_metadef_tag"}
_GET = {ItemKind.OBJECT: "get_metadef_object", ItemKind.PROPERTY: "get_metadef_property",
        ItemKind.TAG: "get_metadef_tag"}
_LIST = {ItemKind.OBJECT: "get_metadef_objects", ItemKind.PROPERTY: "get_metadef_properties",
         ItemKind.TAG: "get_metadef_tags"}


@dataclass(frozen=True)
class NamespaceDetail:
    """A namespace with everything in it (what ``GET /v2/metadefs/namespaces/{ns}`` shows)."""

    namespace: Namespace
    associations: tuple[Association, ...]
    properties: tuple[Item, ...] = ()
    objects: tuple[Item, ...] = ()
    tags: tuple[Item, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    """One file of ``cowshed metadefs load``: what became of its namespace."""

    file: str
    namespace: str
    outcome: str  # loaded, replaced, skipped


class MetadefService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.repo: Repository = deps.repo

    def _enforce(self, rule: str, ctx: RequestContext) -> None:
        self.deps.policy.enforce(rule, ctx, {"project_id": ctx.project_id})

    def _visible(self, ctx: RequestContext, name: str) -> Namespace:
        ns = self.repo.get_namespace(name)
        if ns.visibility != "public" and not ctx.is_admin and ns.owner != ctx.project_id:
            raise NotFound(f"Metadata definition namespace={name} was not found.")
        return ns

    def _writable(self, ctx: RequestContext, name: str, rule: str,
                  deleting: bool = False) -> Namespace:
        self._enforce(rule, ctx)
        ns = self._visible(ctx, name)
        if deleting and ns.protected:
            raise Forbidden(f"Metadata definition namespace {name} is protected and cannot be "
                            "changed by a delete; set protected to false first.")
        return ns

    # --- namespaces ---------------------------------------------------------------------------

    def resource_types(self, ctx: RequestContext) -> list[ResourceType]:
        self._enforce("list_metadef_resource_types", ctx)
        return self.repo.resource_types()

    def list_namespaces(self, ctx: RequestContext, query: NamespaceQuery) -> list[NamespaceDetail]:
        self._enforce("get_metadef_namespaces", ctx)
        found = self.repo.list_namespaces(query, project_id=ctx.project_id, admin=ctx.is_admin)
        return [NamespaceDetail(ns, tuple(self.repo.associations(ns.id))) for ns in found]

    def create_namespace(self, ctx: RequestContext, body: Any) -> NamespaceDetail:
        self._enforce("add_metadef_namespace", ctx)
        doc = namespace_document(body)
        if doc.fields.owner not in (None, ctx.project_id) and not ctx.is_admin:
            raise Forbidden("Only an admin may create a namespace owned by another project.")
        for assoc in doc.associations:
            if assoc.name not in {rt.name for rt in self.repo.resource_types()}:
                raise NotFound(f"Failed to find resource type {assoc.name}.")
        ns = self.repo.create_namespace(doc, ctx.project_id)
        return self._detail(ns, None)

    def get_namespace(self, ctx: RequestContext, name: str,
                      resource_type: str | None = None) -> NamespaceDetail:
        self._enforce("get_metadef_namespace", ctx)
        return self._detail(self._visible(ctx, name), resource_type)

    def _detail(self, ns: Namespace, resource_type: str | None) -> NamespaceDetail:
        assocs = tuple(self.repo.associations(ns.id))
        props = tuple(self.repo.items(ns.id, ItemKind.PROPERTY))
        if resource_type is not None:
            prefix = next((a.prefix or "" for a in assocs if a.name == resource_type), "")
            props = tuple(replace(p, name=prefix + p.name) for p in props)
        return NamespaceDetail(ns, assocs, props, tuple(self.repo.items(ns.id, ItemKind.OBJECT)),
                               tuple(self.repo.items(ns.id, ItemKind.TAG)))

    def update_namespace(self, ctx: RequestContext, name: str, body: Any) -> NamespaceDetail:
        ns = self._writable(ctx, name, "modify_metadef_namespace")
        if not isinstance(body, dict):
            raise InvalidRequest("A namespace must be a JSON object")
        extra = sorted(set(body) - {"namespace", "display_name", "description", "visibility",
                                    "protected", "owner", "created_at", "updated_at", "self",
                                    "schema", "resource_type_associations", "properties",
                                    "objects", "tags"})
        if extra:
            raise InvalidRequest(f"Additional properties are not allowed: {extra}")
        merged = {"namespace": ns.namespace, "display_name": ns.display_name,
                  "description": ns.description, "visibility": ns.visibility.value,
                  "protected": ns.protected, "owner": ns.owner}
        merged.update({k: v for k, v in body.items() if k in merged})
        fields = namespace_fields(merged)
        if fields.owner != ns.owner and not ctx.is_admin:
            raise Forbidden("Only an admin may change a namespace's owner.")
        return self._detail(self.repo.update_namespace(ns.id, fields), None)

    def delete_namespace(self, ctx: RequestContext, name: str) -> None:
        ns = self._writable(ctx, name, "delete_metadef_namespace", deleting=True)
        self.repo.delete_namespace(ns.id)

    # --- resource type associations -----------------------------------------------------------

    def associations(self, ctx: RequestContext, name: str) -> list[Association]:
        self._enforce("get_metadef_resource_type", ctx)
        return self.repo.associations(self._visible(ctx, name).id)

    def add_association(self, ctx: RequestContext, name: str, body: Any) -> Association:
        ns = self._writable(ctx, name, "add_metadef_resource_type_association")
        return self.repo.add_association(ns.id, association_fields(body))

    def remove_association(self, ctx: RequestContext, name: str, resource_type: str) -> None:
        ns = self._writable(ctx, name, "remove_metadef_resource_type_association", deleting=True)
        self.repo.remove_association(ns.id, resource_type)

    # --- objects, properties and tags ---------------------------------------------------------

    def items(self, ctx: RequestContext, name: str, kind: ItemKind) -> list[Item]:
        self._enforce(_LIST[kind], ctx)
        return self.repo.items(self._visible(ctx, name).id, kind)

    def get_item(self, ctx: RequestContext, name: str, kind: ItemKind, item: str,
                 resource_type: str | None = None) -> Item:
        self._enforce(_GET[kind], ctx)
        ns = self._visible(ctx, name)
        if resource_type is not None and kind == ItemKind.PROPERTY:
            assoc = next((a for a in self.repo.associations(ns.id) if a.name == resource_type),
                         None)
            if assoc is None:
                raise NotFound(f"Resource type {resource_type} is not associated with {name}.")
            prefix = assoc.prefix or ""
            if not item.startswith(prefix):
                raise NotFound(f"Property {item} does not start with the prefix {prefix}.")
            return replace(self.repo.get_item(ns.id, kind, item[len(prefix):]), name=item)
        return self.repo.get_item(ns.id, kind, item)

    def create_item(self, ctx: RequestContext, name: str, kind: ItemKind, body: Any) -> Item:
        ns = self._writable(ctx, name, _ADD[kind])
        entry = _parse(kind, body)
        return self.repo.add_items(ns.id, kind, [entry])[0]

    def create_tag(self, ctx: RequestContext, name: str, tag: str) -> Item:
        ns = self._writable(ctx, name, "add_metadef_tag")
        return self.repo.add_items(ns.id, ItemKind.TAG, [(check_name(tag, "tag name", 255), {})])[0]

    def create_tags(self, ctx: RequestContext, name: str, body: Any, append: bool) -> list[Item]:
        """Glance's batch create: replaces every tag, or adds to them with X-Openstack-Append."""
        ns = self._writable(ctx, name, "add_metadef_tags")
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
            raise InvalidRequest("The body must be an object with a 'tags' array")
        names = [tag_name(t) for t in body["tags"]]
        if len(set(names)) != len(names):
            raise Conflict("Duplicate tag names in the request")
        return self.repo.add_items(ns.id, ItemKind.TAG, [(n, {}) for n in names],
                                   replace_all=not append)

    def update_item(self, ctx: RequestContext, name: str, kind: ItemKind, item: str,
                    body: Any) -> Item:
        ns = self._writable(ctx, name, _MODIFY[kind])
        new_name, new_body = _parse(kind, body)
        return self.repo.update_item(ns.id, kind, item, new_name, new_body)

    def delete_item(self, ctx: RequestContext, name: str, kind: ItemKind, item: str) -> None:
        ns = self._writable(ctx, name, _DELETE[kind], deleting=True)
        self.repo.delete_items(ns.id, kind, item)

    def delete_all(self, ctx: RequestContext, name: str, kind: ItemKind) -> None:
        rule = "delete_metadef_tags" if kind == ItemKind.TAG else _DELETE[kind]
        ns = self._writable(ctx, name, rule, deleting=True)
        self.repo.delete_items(ns.id, kind)

    # --- loading Glance-format files ----------------------------------------------------------

    def load_files(self, ctx: RequestContext, paths: Sequence[Path],
                   overwrite: bool = False) -> list[LoadResult]:
        """Load metadef JSON files as ``glance-manage db_load_metadefs`` does: a namespace that
        exists is skipped, or replaced whole with ``overwrite``. Every file is checked before
        any is loaded, so a bad file loads nothing."""
        self._enforce("add_metadef_namespace", ctx)
        docs = []
        for path in paths:
            try:
                docs.append((path, namespace_document(json.loads(path.read_text("utf-8")))))
            except (OSError, ValueError) as exc:
                raise InvalidRequest(f"{path}: {exc}") from None
            except InvalidRequest as exc:
                raise InvalidRequest(f"{path}: {exc.message}") from None
        results = []
        for path, doc in docs:
            exists = _exists(self.repo, doc.fields.namespace)
            if exists and not overwrite:
                outcome = "skipped"
            else:
                self.repo.replace_namespace(doc, ctx.project_id)
                outcome = "replaced" if exists else "loaded"
            results.append(LoadResult(str(path), doc.fields.namespace, outcome))
        return results


def _exists(repo: Repository, name: str) -> bool:
    try:
        repo.get_namespace(name)
    except NotFound:
        return False
    return True


def _parse(kind: ItemKind, body: Any) -> tuple[str, dict[str, Any]]:
    if kind == ItemKind.OBJECT:
        return object_body(body)
    if kind == ItemKind.PROPERTY:
        return property_body(body)
    return tag_name(body), {}
