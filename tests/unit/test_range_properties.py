"""Property tests for Range parsing on GET /v2/images/{id}/file (api/image/data.py).

Invariants: any header value (latin-1, as HTTP carries it) parses or is a 400/416
(InvalidRequest or its RangeNotSatisfiable), never another exception; a range written in any
of RFC 9110's single-range forms, leading zeros and spaces included, parses back to its
numbers; and the legacy Content-Range request header reads the same way. What a parsed range
selects from real data is checked through the API in tests/api/test_list_patch_properties.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from cowshed.api.image.data import parse_range
from cowshed.errors import InvalidRequest, RangeNotSatisfiable

CI = settings(derandomize=True, database=None, deadline=None, max_examples=150)
#: offsets past 19 digits all read as 2**63 ("too large to be an offset"), which is then 416.
HUGE = 1 << 63
offsets = st.integers(min_value=0, max_value=10**18 - 1) | st.integers(min_value=0, max_value=999)
header_text = st.text(alphabet=st.characters(max_codepoint=255), max_size=40) | st.lists(
    st.sampled_from(["bytes", "=", "-", ",", " ", "0", "7", "12", "99999999999999999999", "x",
                     "\t", "²", "bytes "]), max_size=8).map("".join)


def request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode("latin-1")) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


@settings(CI, max_examples=400)
@given(value=header_text, legacy=st.booleans())
def test_any_header_parses_or_is_400_or_416(value: str, legacy: bool) -> None:
    req = request(content_range=value) if legacy else request(range=value)
    try:
        byte_range, suffix = parse_range(req)
    except RangeNotSatisfiable as exc:
        assert exc.size == 0
        return
    except InvalidRequest:
        assert "," in value and not legacy  # only several ranges are a plain 400
        return
    assert (byte_range is None) != (suffix is None)
    if byte_range is not None:
        first, last = byte_range
        assert 0 <= first <= HUGE and (last is None or first <= last <= HUGE)
    else:
        assert suffix is not None and 0 <= suffix <= HUGE


@CI
@given(first=offsets, span=offsets, zeros=st.integers(0, 3), pad=st.sampled_from(["", " ", "  "]))
def test_closed_range_round_trips(first: int, span: int, zeros: int, pad: str) -> None:
    last = first + span
    if last >= 10**18:
        last = first
    text = f"{pad}bytes={'0' * zeros}{first}-{last}{pad}"
    assert parse_range(request(range=text)) == ((first, last), None)
    legacy = f"bytes {first}-{last}/{last + 1}"
    assert parse_range(request(content_range=legacy)) == ((first, last), None)


@CI
@given(first=offsets)
def test_open_range_round_trips(first: int) -> None:
    assert parse_range(request(range=f"bytes={first}-")) == ((first, None), None)


@CI
@given(n=offsets)
def test_suffix_range_round_trips(n: int) -> None:
    assert parse_range(request(range=f"bytes=-{n}")) == (None, n)


@CI
@given(first=offsets, span=st.integers(min_value=1, max_value=10**6))
def test_reversed_range_is_416(first: int, span: int) -> None:
    try:
        parse_range(request(range=f"bytes={first + span}-{first}"))
    except RangeNotSatisfiable:
        return
    raise AssertionError("a last byte before the first must be refused")


@CI
@given(digits=st.integers(min_value=19, max_value=5000))
def test_overlong_numbers_read_as_huge(digits: int) -> None:
    """int() refuses strings over 4300 digits: such a number must still be a 416 later, not
    a ValueError (500) here."""
    assert parse_range(request(range=f"bytes={'9' * digits}-")) == ((HUGE, None), None)
