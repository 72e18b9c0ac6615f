"""The policy questions about one image, asked the way Glance asks them.

An image the caller may not see is NotFound (404), exactly as a missing one, so nothing tells a
foreign project that an id exists; an image the caller sees but may not act on is Forbidden
(403). Seeing is Glance's database rule (admin, owner, public, community, or a member of a
shared image) and then the ``get_image`` policy rule.
"""

from __future__ import annotations

from cowshed.db.repository import Repository
from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image, Visibility
from cowshed.errors import NotFound
from cowshed.services.policy import Policy


def not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}")


class ImageAccess:
    def __init__(self, repo: Repository, policy: Policy) -> None:
        self.repo = repo
        self.policy = policy

    def target(self, ctx: RequestContext, image: Image) -> dict[str, object]:
        """What the rules' ``%(key)s`` read: Glance's ImageTarget. ``member_id`` is the caller's
        project when it is a member of this shared image (any member status), else None."""
        member = None
        if image.visibility == Visibility.SHARED and ctx.project_id is not None \
                and self.repo.find_member(image.id, ctx.project_id) is not None:
            member = ctx.project_id
        return {
            "project_id": image.owner, "owner": image.owner, "visibility": str(image.visibility),
            "member_id": member, "image_id": image.id, "id": image.id,
            "protected": image.protected, "status": str(image.status),
        }

    def _visible(self, ctx: RequestContext, image: Image, target: dict[str, object]) -> bool:
        if ctx.is_admin:
            return True
        if ctx.project_id is not None and image.owner == ctx.project_id:
            return True
        if image.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY):
            return True
        return target["member_id"] is not None

    def check(self, ctx: RequestContext, image: Image, rule: str = "get_image") -> None:
        """NotFound unless the caller sees ``image``; then Forbidden unless ``rule`` allows."""
        target = self.target(ctx, image)
        if not self._visible(ctx, image, target) or not self.policy.allowed("get_image", ctx, target):
            raise not_found(image.id)
        if rule != "get_image":
            self.policy.enforce(rule, ctx, target)

    def sees(self, ctx: RequestContext, image: Image) -> bool:
        target = self.target(ctx, image)
        return self._visible(ctx, image, target) and self.policy.allowed("get_image", ctx, target)
