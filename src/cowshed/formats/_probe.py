"""One oslo format inspector as the stream inspector drives it: fed pieces, asked its state."""

from __future__ import annotations

import enum
from typing import Any


class _State(enum.Enum):
    NEEDS_DATA = "needs"  # a region at a known or unknown offset is still incomplete
    NEEDS_TAIL = "tail"  # only end-of-stream regions are left
    SETTLED = "settled"  # has everything it will ever need
    FAILED = "failed"  # raised while parsing: the data is not this format


class _Probe:
    """One oslo inspector plus the exception it raised, if any."""

    def __init__(self, name: str, inspector: Any) -> None:
        # oslo's module is imported by whoever builds a probe (the stream inspector), not with
        # this package: processes that never inspect (the CLI) do not pay for it
        from oslo_utils.imageutils import format_inspector

        self.name = name
        self.inspector = inspector
        self.error: Exception | None = None
        self._end_region: type[Any] = format_inspector.EndCaptureRegion

    def eat(self, piece: bytes | memoryview) -> None:
        try:
            self.inspector.eat_chunk(piece)
        # oslo inspectors raise assorted errors (ImageFormatError, struct.error…) on data that
        # is not theirs; that only means "not this format".
        except Exception as exc:
            self.error = exc

    def state(self) -> _State:
        if self.error is not None:
            return _State.FAILED
        pending = [self.inspector.region(name) for name in self.inspector.context_info]
        pending = [r for r in pending if not r.complete]
        if not pending:
            return _State.SETTLED
        if all(isinstance(r, self._end_region) for r in pending):
            return _State.NEEDS_TAIL
        return _State.NEEDS_DATA

    def tail_length(self) -> int:
        regions = [self.inspector.region(name) for name in self.inspector.context_info]
        return max((r.length for r in regions if isinstance(r, self._end_region)), default=0)

    def matches(self) -> bool:
        """True if the (finished) inspector recognises its format."""
        if self.error is not None:
            return False
        try:
            return bool(self.inspector.format_match)
        except Exception as exc:  # a half-parsed structure: treat as "not this format"
            self.error = exc
            return False

    def magic_matched(self) -> bool:
        """Whether the format's signature was seen, even if parsing failed after it."""
        try:
            return bool(self.inspector.format_match)
        except Exception:  # not even the signature region is usable
            return False

    def virtual_size(self) -> int:
        try:
            return int(self.inspector.virtual_size)
        except Exception:  # unparsable size field: unknown
            return 0
