"""SQL for image members (the projects a shared image is shared with)."""

from __future__ import annotations

import sqlalchemy as sa

from cowshed.db.schema import image_members, images
from cowshed.domain.clock import utcnow
from cowshed.domain.members import ImageMember, MemberStatus
from cowshed.errors import AlreadyExists, NotFound


class MemberRepository:
    """Every query on the image_members table."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add_member(self, member: ImageMember) -> None:
        """Insert; AlreadyExists for a second row of the same pair, NotFound if the image
        row is gone."""
        try:
            with self.engine.begin() as conn:
                conn.execute(image_members.insert().values(
                    image_id=member.image_id, member_id=member.member_id,
                    status=str(member.status), created_at=member.created_at,
                    updated_at=member.updated_at))
        except sa.exc.IntegrityError as exc:
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(images.c.id).where(images.c.id == member.image_id))
                if found.first() is None:
                    raise NotFound(f"No image found with ID {member.image_id}") from exc
            raise AlreadyExists(f"Member {member.member_id} already exists for image "
                                f"{member.image_id}") from exc

    def get_member(self, image_id: str, member_id: str) -> ImageMember:
        with self.engine.connect() as conn:
            row = conn.execute(image_members.select().where(
                image_members.c.image_id == image_id,
                image_members.c.member_id == member_id)).mappings().first()
        if row is None:
            raise NotFound(f"{member_id} is not a member of image {image_id}")
        return _to_member(row)

    def find_member(self, image_id: str, member_id: str) -> ImageMember | None:
        try:
            return self.get_member(image_id, member_id)
        except NotFound:
            return None

    def list_members(self, image_id: str) -> list[ImageMember]:
        with self.engine.connect() as conn:
            rows = conn.execute(image_members.select().where(
                image_members.c.image_id == image_id)
                .order_by(image_members.c.created_at, image_members.c.member_id)).mappings()
            return [_to_member(r) for r in rows]

    def count_members(self, image_id: str) -> int:
        with self.engine.connect() as conn:
            count: int = conn.execute(sa.select(sa.func.count()).select_from(image_members).where(
                image_members.c.image_id == image_id)).scalar_one()
        return count

    def set_member_status(self, image_id: str, member_id: str, status: MemberStatus) -> ImageMember:
        with self.engine.begin() as conn:
            done = conn.execute(image_members.update().where(
                image_members.c.image_id == image_id, image_members.c.member_id == member_id,
            ).values(status=str(status), updated_at=utcnow())).rowcount
        if done != 1:
            raise NotFound(f"{member_id} is not a member of image {image_id}")
        return self.get_member(image_id, member_id)

    def remove_member(self, image_id: str, member_id: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(image_members.delete().where(
                image_members.c.image_id == image_id,
                image_members.c.member_id == member_id)).rowcount
        if gone != 1:
            raise NotFound(f"{member_id} is not a member of image {image_id}")


def member_images(project_id: str, status: str) -> sa.Select[tuple[str]]:
    """Ids of the images ``project_id`` is a member of, in ``status`` (or "all")."""
    query = sa.select(image_members.c.image_id).where(image_members.c.member_id == project_id)
    if status != "all":
        query = query.where(image_members.c.status == status)
    return query


def _to_member(row: sa.RowMapping) -> ImageMember:
    return ImageMember(image_id=row["image_id"], member_id=row["member_id"],
                       status=MemberStatus(row["status"]), created_at=row["created_at"],
                       updated_at=row["updated_at"])
