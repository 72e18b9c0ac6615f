"""Image members: the projects a ``shared`` image is shared with (Glance's sharing model).

The owner adds and removes members; each member (the consuming project) accepts or rejects.
A member sees the image listed once it has accepted; it can read it by id in any status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class MemberStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImageMember:
    image_id: str
    member_id: str
    status: MemberStatus
    created_at: datetime
    updated_at: datetime
