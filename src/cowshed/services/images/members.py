"""Image members (sharing), with Glance's answers.

Only ``shared`` images have members (403 otherwise, public ones included). The owner's project
adds and removes members (``add_member``/``delete_member``); only the member's project changes
its status (``modify_member``); the owner sees every member, a member only its own record, and
anything else is 404 — exactly what a missing image or member answers, so nothing leaks.
Glance does not check that a member project exists, and neither does cowshed.
"""

from __future__ import annotations

from cowshed.domain.clock import utcnow
from cowshed.domain.context import RequestContext
from cowshed.domain.images import Image, Visibility
from cowshed.domain.members import ImageMember, MemberStatus
from cowshed.errors import Forbidden, InvalidRequest, NotFound, StorageFull
from cowshed.services.context import Deps
from cowshed.services.images.access import ImageAccess, not_found

_MAX_ID = 255


def _member_missing(image_id: str, member_id: str) -> NotFound:
    return NotFound(f"{member_id} is not a member of image {image_id}")


def parse_status(value: object) -> MemberStatus:
    try:
        return MemberStatus(str(value)) if isinstance(value, str) else MemberStatus("")
    except ValueError:
        raise InvalidRequest(f"Invalid status value: {value}") from None


class MemberService:
    def __init__(self, deps: Deps) -> None:
        self.repo = deps.repo
        self.settings = deps.settings
        self.access = ImageAccess(deps.repo, deps.policy)

    def _image(self, ctx: RequestContext, image_id: str, rule: str) -> Image:
        image = self.repo.get_image(image_id)
        if str(image.status) == "deleted":
            raise not_found(image_id)
        self.access.check(ctx, image, rule)
        return image

    @staticmethod
    def _shared(image: Image) -> None:
        if image.visibility == Visibility.PUBLIC:
            raise Forbidden("Public images do not have members.")
        if image.visibility != Visibility.SHARED:
            raise Forbidden("Only shared images have members.")

    @staticmethod
    def _mine(ctx: RequestContext, image: Image) -> bool:
        return ctx.is_admin or (ctx.project_id is not None and ctx.project_id == image.owner)

    def list_members(self, ctx: RequestContext, image_id: str) -> list[ImageMember]:
        image = self._image(ctx, image_id, "get_members")
        self._shared(image)
        members = self.repo.list_members(image_id)
        if self._mine(ctx, image):
            return members
        return [m for m in members if m.member_id == ctx.project_id]

    def get_member(self, ctx: RequestContext, image_id: str, member_id: str) -> ImageMember:
        image = self._image(ctx, image_id, "get_members")
        self._shared(image)
        if not self._mine(ctx, image) and member_id != ctx.project_id:
            raise _member_missing(image_id, member_id)
        return self.repo.get_member(image_id, member_id)

    def add_member(self, ctx: RequestContext, image_id: str, member_id: object) -> ImageMember:
        if not isinstance(member_id, str) or not member_id.strip() or len(member_id) > _MAX_ID:
            raise InvalidRequest("Invalid member: a project id of 1 to 255 characters.")
        image = self._image(ctx, image_id, "add_member")
        self._shared(image)
        if self.repo.count_members(image_id) >= self.settings.image_member_quota:
            raise StorageFull(f"Maximum number of image members "
                              f"({self.settings.image_member_quota}) exceeded")
        now = utcnow()
        member = ImageMember(image_id, member_id, MemberStatus.PENDING, now, now)
        self.repo.add_member(member)
        return member

    def set_status(self, ctx: RequestContext, image_id: str, member_id: str,
                   status: MemberStatus) -> ImageMember:
        """The member project accepts, rejects or returns to pending (not the owner: 403)."""
        image = self._image(ctx, image_id, "get_image")
        self._shared(image)
        if not ctx.is_admin and member_id != ctx.project_id:
            if self._mine(ctx, image) and self.repo.find_member(image_id, member_id):
                raise Forbidden("Only the member can change its status.")
            raise _member_missing(image_id, member_id)
        self.repo.get_member(image_id, member_id)
        self.access.check(ctx, image, "modify_member")
        return self.repo.set_member_status(image_id, member_id, status)

    def remove_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        image = self._image(ctx, image_id, "get_image")
        self._shared(image)
        if not self._mine(ctx, image):
            if member_id == ctx.project_id:
                raise Forbidden("Only the image owner can remove a member.")
            raise _member_missing(image_id, member_id)
        self.repo.get_member(image_id, member_id)
        self.access.check(ctx, image, "delete_member")
        self.repo.remove_member(image_id, member_id)
