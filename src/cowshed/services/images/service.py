"""Image records: create, show, list, JSON-patch, tags, (de)activate, delete."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cowshed.db.repository import Repository
from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.image_rules import check_writable, validate_id, validate_tag, validate_value
from cowshed.domain.images import (
    SETTABLE,
    Image,
    ImageStatus,
    Visibility,
    check_transition,
)
from cowshed.domain.query import Audience, Filter, ImageQuery
from cowshed.errors import (
    Conflict,
    Forbidden,
    InUse,
    InvalidRequest,
    InvalidStatusTransition,
    NotFound,
    StorageFull,
)
from cowshed.services.context import Deps
from cowshed.services.images.access import ImageAccess, not_found
from cowshed.services.images.quotas import ImageQuotas


@dataclass(frozen=True)
class PatchOp:
    """One JSON-patch operation, already parsed: ``path`` is the attribute name."""

    op: str  # add | remove | replace
    path: str
    value: object = None
    #: the v2.0 media type: ``add`` of an existing property is a conflict there.
    legacy: bool = False


class ImageService:
    """Record-level operations on images. Data in and out lives in ``services.data``.

    Every public method takes the caller's RequestContext first and asks the policy (through
    ImageAccess) before it reads or changes anything.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.repo = deps.repo
        self.settings = deps.settings
        self.access = ImageAccess(deps.repo, deps.policy)
        self.quotas = ImageQuotas(deps)

    def create(self, ctx: RequestContext, body: Mapping[str, Any]) -> Image:
        """Create a queued image from a create-request body (Glance semantics)."""
        attrs: dict[str, Any] = {}
        props: dict[str, str] = {}
        for name, value in body.items():
            check_writable(name, creating=True)
            if name == "id":
                attrs["id"] = validate_id(value)
            elif name in SETTABLE:
                attrs[name] = validate_value(name, value)
            else:
                props[name] = str(validate_value(name, value))
        self._check_quotas(props, attrs.get("tags", ()))
        owner = attrs.pop("owner", None) or ctx.project_id or self.settings.default_owner
        visibility = attrs.pop("visibility", Visibility.SHARED)
        self._check_create(ctx, owner, visibility)
        self.quotas.check_create(owner)
        now = utcnow()
        image = Image(
            id=attrs.pop("id", None) or str(uuid.uuid4()),
            name=attrs.pop("name", None), status=ImageStatus.QUEUED,
            visibility=visibility,
            protected=attrs.pop("protected", False), os_hidden=attrs.pop("os_hidden", False),
            checksum=None, os_hash_algo=None, os_hash_value=None, size=None, virtual_size=None,
            min_ram=attrs.pop("min_ram", 0), min_disk=attrs.pop("min_disk", 0),
            disk_format=attrs.pop("disk_format", None),
            container_format=attrs.pop("container_format", None),
            owner=owner,
            created_at=now, updated_at=now, tags=attrs.pop("tags", ()), properties=props,
        )
        self.repo.insert_image(image)
        return image

    def _check_create(self, ctx: RequestContext, owner: str, visibility: Visibility) -> None:
        target = {"project_id": owner, "owner": owner, "visibility": str(visibility)}
        self.deps.policy.enforce("add_image", ctx, target)
        self._check_visibility(ctx, target, visibility)

    def _check_visibility(self, ctx: RequestContext, target: Mapping[str, object],
                          visibility: object) -> None:
        if visibility == Visibility.PUBLIC:
            self.deps.policy.enforce("publicize_image", ctx, target)
        elif visibility == Visibility.COMMUNITY:
            self.deps.policy.enforce("communitize_image", ctx, target)

    def find(self, image_id: str) -> Image:
        """The record, whoever may see it (services' own bookkeeping, never a caller's read)."""
        image = self.repo.get_image(image_id)
        if image.status == ImageStatus.DELETED:  # being deleted: gone for clients already
            raise not_found(image_id)
        return image

    def load(self, ctx: RequestContext, image_id: str, rule: str = "get_image") -> Image:
        """The record if the caller sees it (else NotFound) and ``rule`` allows (else
        Forbidden)."""
        image = self.find(image_id)
        self.access.check(ctx, image, rule)
        return image

    def get(self, ctx: RequestContext, image_id: str) -> Image:
        return self.load(ctx, image_id)

    def list_images(self, ctx: RequestContext, query: ImageQuery) -> list[Image]:
        """The images the caller may see that match ``query``; a marker it may not see is
        NotFound, as a missing one."""
        self.deps.policy.enforce("get_images", ctx, {"project_id": ctx.project_id})
        hide_deleted = Filter("status", "neq", str(ImageStatus.DELETED))
        audience = None
        if not ctx.is_admin:
            audience = Audience(ctx.project_id, query.member_status,
                                community=query.visibility in ("community", "all"))
            if query.marker is not None:
                self.load(ctx, query.marker)
        return self.repo.list_images(replace(
            query, filters=(*query.filters, hide_deleted), audience=audience))

    def update(self, ctx: RequestContext, image_id: str, ops: list[PatchOp]) -> Image:
        """Apply every op in order and save once; nothing is saved if one op fails.

        The ops apply to the image as it is under its row lock (``update_image``), so
        concurrent PATCHes and tag writes serialise instead of overwriting each other.
        """
        target = self.access.target(ctx, self.load(ctx, image_id, "modify_image"))
        for op in ops:
            if op.path == "visibility" and op.op != "remove":
                self._check_visibility(ctx, target, op.value)

        def change(image: Image) -> Image:
            if image.status == ImageStatus.DELETED:  # a delete is under way
                raise not_found(image_id)
            for op in ops:
                if op.path == "owner" and not ctx.is_admin and op.value != image.owner:
                    raise Forbidden("Only an administrator may change the owner of an image.")
                image = self._apply(image, op)
            self._check_quotas(image.properties, image.tags)
            return replace(image, updated_at=utcnow())

        return self.repo.update_image(image_id, change)

    def _apply(self, image: Image, op: PatchOp) -> Image:
        name = op.path
        if name == "locations":
            raise Forbidden("It's not allowed to update locations if locations are invisible.")
        check_writable(name)
        if op.op == "add" and op.legacy and (name in SETTABLE or name in image.properties):
            # Glance's _do_add with the v2.0 media type: a base attribute always "exists".
            raise Conflict(f"Property {name} already present.")
        if name in SETTABLE:
            return self._apply_base(image, op)
        props = dict(image.properties)
        if op.op == "remove":
            if name not in props:
                raise Conflict(f"Property {name} does not exist.")
            del props[name]
        elif op.op == "replace" and name not in props:
            raise Conflict(f"Property {name} does not exist.")
        else:
            props[name] = str(validate_value(name, op.value))
        return replace(image, properties=props)

    def _apply_base(self, image: Image, op: PatchOp) -> Image:
        name = op.path
        if op.op == "remove":
            raise Forbidden(f"Attribute '{name}' cannot be removed.")
        value: Any = validate_value(name, op.value)
        if name in ("disk_format", "container_format") and value != getattr(image, name):
            _check_format_change(image, name)
        changes: dict[str, Any] = {name: value}
        return replace(image, **changes)

    def _check_quotas(self, props: Mapping[str, str], tags: tuple[str, ...] | object) -> None:
        if len(props) > self.settings.image_property_quota:
            raise StorageFull(
                f"Maximum number of image properties ({self.settings.image_property_quota}) exceeded"
            )
        if isinstance(tags, tuple) and len(tags) > self.settings.image_tag_quota:
            raise StorageFull(f"Maximum number of tags ({self.settings.image_tag_quota}) exceeded")

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        validate_tag(tag)
        self.load(ctx, image_id, "modify_image")
        self.repo.add_tag(image_id, tag, self.settings.image_tag_quota)

    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        self.load(ctx, image_id, "modify_image")
        self.repo.remove_tag(image_id, tag)

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        image = self.load(ctx, image_id, "deactivate")
        if image.status == ImageStatus.DEACTIVATED:
            return
        if image.status != ImageStatus.ACTIVE:
            raise Forbidden(f"Not allowed to deactivate image in status '{image.status}'")
        self.repo.set_status(image_id, ImageStatus.ACTIVE, ImageStatus.DEACTIVATED)

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        image = self.load(ctx, image_id, "reactivate")
        if image.status == ImageStatus.ACTIVE:
            return
        if image.status != ImageStatus.DEACTIVATED:
            raise Forbidden(f"Not allowed to reactivate image in status '{image.status}'")
        self.repo.set_status(image_id, ImageStatus.DEACTIVATED, ImageStatus.ACTIVE)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Delete the record and the data in every store; InUse (409) keeps both.

        The row is marked ``deleted`` (compare-and-set) before any data goes, and removed
        last: a crash in between leaves a marked row that start-up recovery finishes
        (:meth:`finish_delete`), never a live record whose data is gone.
        """
        image = self.load(ctx, image_id, "delete_image")
        if image.protected:
            raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        check_transition(image.status, ImageStatus.DELETED)
        # leased while marked deleted: the sweeps finish only deletes whose owner died
        with self.deps.owners.leased(f"image:{image_id}"):
            try:
                self.repo.set_status(image_id, image.status, ImageStatus.DELETED)
            except InvalidStatusTransition:
                self.find(image_id)  # NotFound (404) if a racing delete got there first
                raise
            try:
                self.finish_delete(image_id)
            except InUse:
                with contextlib.suppress(NotFound, InvalidStatusTransition):
                    self.repo.set_status(image_id, ImageStatus.DELETED, image.status)
                raise

    def finish_delete(self, image_id: str) -> None:
        """Remove the data of a row marked ``deleted`` from every store, then the row.

        Stores that can refuse (InUse: clones of their snapshots) go first, so a refusal comes
        before any other copy is gone and the image keeps all its locations.
        """
        stores = [loc.store for loc in self.repo.get_image(image_id).locations]
        for store in sorted(stores, key=lambda name: not self._may_refuse(name)):
            self._delete_data(image_id, store)
        self._discard_staging(image_id)
        with contextlib.suppress(NotFound):
            self.repo.delete_image(image_id)

    def delete_from_store(self, ctx: RequestContext, image_id: str, store: str) -> None:
        """``DELETE /v2/stores/{store}/{image}``: drop one copy, never the last."""
        image = self.load(ctx, image_id, "delete_image_location")
        if store not in self.deps.stores.names():
            raise Conflict(f"Unknown store {store}")
        if image.status != ImageStatus.ACTIVE:
            raise Conflict(f"Image {image_id} is not active")
        if store not in image.stores:
            raise NotFound(f"Image {image_id} has no data in store {store}")
        if len(image.locations) == 1:
            raise Forbidden("Cannot delete the last location of an image")
        self._delete_data(image_id, store)

    def _may_refuse(self, store: str) -> bool:
        """True for stores whose objects can have dependants (clones) that block a delete."""
        caps = self.deps.stores.get(store).capabilities
        return caps.clone or caps.snapshots

    def _delete_data(self, image_id: str, store: str) -> None:
        backend = self.deps.stores.get(store)
        try:
            backend.delete(image_id)
        except NotFound:
            pass
        except InUse as exc:
            raise InUse(f"Image {image_id} is in use in store {store}: {exc.message}") from exc
        self.repo.remove_location(image_id, store)

    def _discard_staging(self, image_id: str) -> None:
        staged = self.settings.staging_dir / image_id
        staged.unlink(missing_ok=True)


def _check_format_change(image: Image, name: str) -> None:
    """Formats decide how data is inspected, so they change only while no data is on its way
    (Glance: 403 unless queued). One exception: staged data (``uploading``) may get a format
    that is still unset, since the import inspects the staged bytes against it."""
    if image.status == ImageStatus.QUEUED:
        return
    if image.status == ImageStatus.UPLOADING and getattr(image, name) is None:
        return
    raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")


def requeue(repo: Repository, image_id: str, current: ImageStatus) -> None:
    """Put an image whose data operation failed back to ``queued`` (compare-and-set from
    ``current``); if it was deleted or moved on meanwhile there is nothing to restore."""
    with contextlib.suppress(NotFound, InvalidStatusTransition):
        repo.set_status(image_id, current, ImageStatus.QUEUED)


def require_formats(image: Image) -> None:
    """Glance refuses data for an image whose formats are not set yet."""
    missing = [k for k in ("disk_format", "container_format") if not getattr(image, k)]
    if missing:
        raise InvalidRequest(
            f"Properties {', '.join(missing)} must be set prior to saving data."
        )
