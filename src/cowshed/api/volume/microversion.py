"""Block Storage API microversions: the ``OpenStack-API-Version: volume X.Y`` negotiation.

Cinder's rules (``cinder/api/openstack/wsgi.py`` ``Request.set_api_version_request``): no header,
or a header naming another service only, means the minimum 3.0; ``latest`` means the maximum;
a version outside [min, max] is refused with 406 and a string that is not ``X.Y`` with 400.
Answers carry the version they were served at in the same header, with ``Vary`` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

HEADER = "OpenStack-API-Version"
SERVICE = "volume"
_FORMAT = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@dataclass(frozen=True, order=True)
class Version:
    """A microversion ``major.minor``; ordered, so ``request >= GROUP_VOLUME`` reads as Cinder's
    ``req_version.matches(mv.GROUP_VOLUME, None)``."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Self:
        match = _FORMAT.match(text)
        if match is None:
            raise VersionStringError(
                f"API Version String {text} is of invalid format. Must be of format "
                "MajorNum.MinorNum.")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN = Version(3, 0)
#: Cinder 2024.1 onwards (3.71); clients asking for ``latest`` get this.
MAX = Version(3, 71)

# The versions that change what this API says, named as in cinder/api/microversions.py.
UPLOAD_IMAGE_VISIBILITY = Version(3, 1)   # visibility and protected on os-volume_upload_image
GROUP_VOLUME = Version(3, 13)             # volume: group_id
GROUP_SNAPSHOTS = Version(3, 14)          # snapshot: group_snapshot_id
VOLUME_DETAIL_PROVIDER_ID = Version(3, 21)  # volume: provider_id (admin)
NEW_ATTACH = Version(3, 27)               # the /attachments API
VOLUME_REVERT = Version(3, 40)            # os-revert action
SNAPSHOT_USER_ID = Version(3, 41)         # snapshot: user_id
VOLUME_EXTEND_INUSE = Version(3, 42)      # os-extend on an in-use volume
ATTACHMENT_COMPLETE = Version(3, 44)      # attachment os-complete action
SUPPORT_COUNT_INFO = Version(3, 45)       # ?with_count=true
SHARED_TARGETS = Version(3, 48)           # volume: shared_targets, service_uuid
ATTACHMENT_MODE = Version(3, 54)          # attachment create: mode
VOLUME_CLUSTER_NAME = Version(3, 61)      # volume: cluster_name (admin)
DEFAULT_TYPE = Version(3, 62)             # GET /types/default
VOLUME_TYPE_ID = Version(3, 63)           # volume: volume_type_id
USE_QUOTA = Version(3, 65)                # volume, snapshot: consumes_quota
SHARED_TARGETS_TRISTATE = Version(3, 69)  # volume: shared_targets may be null


class VersionError(Exception):
    """The version header cannot be honoured; ``status`` is what Cinder answers."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VersionStringError(VersionError):
    """Not ``X.Y`` (400)."""


class VersionNotSupported(VersionError):
    """Well formed but outside [MIN, MAX] (406)."""

    status = 406


def requested(header_values: list[str]) -> str | None:
    """The volume entry of the ``OpenStack-API-Version`` header(s), if any.

    The header may list several services (``compute 2.1, volume 3.27``) and may appear more
    than once; entries for other services are ignored (microversion-parse's rule).
    """
    for value in header_values:
        for item in value.split(","):
            service, _, version = item.strip().partition(" ")
            if service.lower() == SERVICE:
                return version.strip()
    return None


def negotiate(header_values: list[str]) -> Version:
    """The version to serve a request at. Raises VersionError for a bad header."""
    text = requested(header_values)
    if text is None:
        return MIN
    if text.lower() == "latest":
        return MAX
    version = Version.parse(text)
    if not MIN <= version <= MAX:
        raise VersionNotSupported(
            f"Version {version} is not supported by the API. Minimum is {MIN} and maximum "
            f"is {MAX}.")
    return version


def response_headers(version: Version) -> dict[str, str]:
    return {HEADER: f"{SERVICE} {version}", "Vary": HEADER}
