"""Property tests for the JSON-patch parser of PATCH /v2/images/{id} (api/image/patch.py).

Invariants: a pointer built from any attribute name by RFC 6901 escaping parses back to that
name; the v2.0 and v2.1 spellings of one operation parse to the same PatchOp; and any JSON
document at all either parses or is an InvalidRequest (400), never another exception.
Settings are pinned (derandomized, no example database) so CI runs the same examples each time.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cowshed.api.image.patch import PATCH_V20, PATCH_V21, media_type, parse_patch
from cowshed.errors import InvalidRequest, UnsupportedMediaType
from cowshed.services.images.service import PatchOp

CI = settings(derandomize=True, database=None, deadline=None, max_examples=100,
              suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8,
)
#: attribute names: anything but empty and "locations" (whose pointers have their own depth rule).
names = st.text(min_size=1, max_size=20).filter(lambda n: n != "locations")
ops = st.sampled_from(["add", "remove", "replace"])
#: pieces pointers are made of, with the characters that matter to the parser over-represented.
pointer_text = st.lists(st.sampled_from(["/", "~", "~0", "~1", "~2", "a", "locations", "-", "0",
                                         "é", " "]), max_size=8).map("".join)


def escape(name: str) -> str:
    """RFC 6901: "~" is "~0", "/" is "~1" (in that order)."""
    return name.replace("~", "~0").replace("/", "~1")


def op_object(op: str, path: str, value: Any, legacy: bool) -> dict[str, Any]:
    raw: dict[str, Any] = {op: path} if legacy else {"op": op, "path": path}
    if op != "remove":
        raw["value"] = value
    return raw


@CI
@given(op=ops, name=names, value=json_values, legacy=st.booleans())
def test_escaped_pointer_round_trips(op: str, name: str, value: Any, legacy: bool) -> None:
    parsed = parse_patch([op_object(op, "/" + escape(name), value, legacy)], legacy)
    assert parsed == [PatchOp(op=op, path=name, value=value if op != "remove" else None,
                              legacy=legacy)]


@CI
@given(doc=st.lists(st.tuples(ops, names, json_values), max_size=6))
def test_both_media_types_read_the_same_operations(doc: list[tuple[str, str, Any]]) -> None:
    modern = parse_patch([op_object(o, "/" + escape(n), v, False) for o, n, v in doc], False)
    legacy = parse_patch([op_object(o, "/" + escape(n), v, True) for o, n, v in doc], True)
    assert [(p.op, p.path, p.value) for p in modern] == [(p.op, p.path, p.value) for p in legacy]
    assert [p.path for p in modern] == [n for _, n, _ in doc]  # order kept, one op per object


@CI
@given(body=json_values, legacy=st.booleans())
def test_any_json_document_parses_or_is_a_400(body: Any, legacy: bool) -> None:
    try:
        parsed = parse_patch(body, legacy)
    except InvalidRequest:
        return
    assert isinstance(body, list) and len(parsed) == len(body)


@CI
@given(op=st.one_of(ops, json_values), path=st.one_of(pointer_text, json_values),
       value=st.one_of(st.just(...), json_values), legacy=st.booleans(),
       extra=st.dictionaries(st.sampled_from(["op", "path", "value", "add", "remove", "replace",
                                              "from", "x"]), json_values, max_size=3))
def test_operation_objects_parse_or_are_a_400(op: Any, path: Any, value: Any, legacy: bool,
                                             extra: dict[str, Any]) -> None:
    raw: dict[str, Any] = {**extra, "op": op, "path": path}
    if value is not ...:
        raw["value"] = value
    try:
        (parsed,) = parse_patch([raw], legacy)
    except InvalidRequest:
        return
    # what was accepted is one of the three operations on one valid attribute name
    assert parsed.op in ("add", "remove", "replace") and parsed.path
    assert (parsed.op == "remove") == ("value" not in raw)


@CI
@given(path=pointer_text, op=ops)
def test_pointer_syntax_errors_are_400(path: str, op: str) -> None:
    """Exactly the pointers RFC 6901 rejects (and empty or nested names) are refused."""
    raw = op_object(op, path, 1, False)
    segments = path[1:].split("/") if path.startswith("/") else []
    well_formed = (path.startswith("/") and all(_valid_escapes(s) for s in segments)
                   and "//" not in path and not (len(path) > 1 and path.endswith("/"))
                   and segments[0] != "")
    if segments and segments[0] == "locations":
        depth_ok = len(segments) == (1 if op == "replace" else 2)
    else:
        depth_ok = len(segments) == 1
    if well_formed and depth_ok:
        (parsed,) = parse_patch([raw], False)
        assert escape(parsed.path) == path[1:] or parsed.path == "locations"
    else:
        with pytest.raises(InvalidRequest):
            parse_patch([raw], False)


def _valid_escapes(segment: str) -> bool:
    return all(part[:1] in ("0", "1") for part in segment.split("~")[1:])


@CI
@given(kind=st.text(max_size=60))
def test_media_type_is_one_of_two_or_415(kind: str) -> None:
    try:
        legacy = media_type(kind)
    except UnsupportedMediaType as exc:
        assert exc.accept == (PATCH_V21, PATCH_V20)
        return
    assert kind.split(";")[0].strip().lower() == (PATCH_V20 if legacy else PATCH_V21)


@CI
@given(params=st.text(alphabet="; =abc\"", max_size=20), upper=st.booleans(),
       legacy=st.booleans())
def test_media_type_ignores_case_and_parameters(params: str, upper: bool, legacy: bool) -> None:
    kind = PATCH_V20 if legacy else PATCH_V21
    header = (kind.upper() if upper else kind) + (";" + params if params else "")
    assert media_type(header) is legacy
