"""The oslo.policy rule language (domain/policy.py) and policy files (services/policy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowshed.domain.context import RequestContext
from cowshed.domain.policy import parse_rule
from cowshed.errors import ConfigError, Forbidden
from cowshed.services.policy import IMAGE_RULES, credentials, load_policy


def ctx(project: str | None = "p1", *roles: str, admin: bool = False) -> RequestContext:
    return RequestContext(user_id="u1", project_id=project, roles=frozenset(roles),
                          is_admin=admin, request_id="req-x")


def image_target(owner: str = "p1", visibility: str = "private",
                 member: str | None = None) -> dict[str, object]:
    return {"project_id": owner, "owner": owner, "visibility": visibility, "member_id": member}


@pytest.mark.parametrize(("rule", "expected"), [
    ("", True), ("@", True), ("!", False), ("role:reader", True), ("role:READER", True),
    ("role:admin", False), ("not role:admin", True), ("role:admin or role:reader", True),
    ("role:admin and role:reader", False), ("project_id:%(project_id)s", True),
    ("project_id:%(owner)s", False), ("'private':%(visibility)s", True),
    ("'public':%(visibility)s", False), ("project_id:%(member_id)s", False),
    ("project_id:%(missing)s", False), ("user_id:u1", True), ("is_admin:False", True),
    ("(role:reader and (project_id:%(project_id)s or 'x':%(visibility)s))", True),
    ("not (role:reader and not project_id:%(project_id)s)", True),
])
def test_checks(rule: str, expected: bool) -> None:
    check = parse_rule("r", rule)
    creds = credentials(ctx("p1", "reader"))
    target = {"project_id": "p1", "owner": "p2", "visibility": "private", "member_id": None}
    assert check(creds, target, {}) is expected


@pytest.mark.parametrize("rule", [
    "role:admin or", "(role:admin", "role:admin)", "and role:admin", "roleadmin",
    "http://example.com/check", "role:", "not", "role:a role:b",
])
def test_bad_rules_are_config_errors_naming_the_rule(rule: str) -> None:
    with pytest.raises(ConfigError, match="policy rule 'bad'"):
        parse_rule("bad", rule)


def test_rule_references_and_loops() -> None:
    rules = {"a": parse_rule("a", "rule:b"), "b": parse_rule("b", "role:reader"),
             "loop": parse_rule("loop", "rule:loop"), "dangling": parse_rule("d", "rule:nope")}
    creds = credentials(ctx("p1", "reader"))
    assert rules["a"](creds, {}, rules)
    assert not rules["loop"](creds, {}, rules)
    assert not rules["dangling"](creds, {}, rules)


def test_defaults_follow_glance() -> None:
    policy = load_policy("")
    reader, member = ctx("p1", "reader"), ctx("p1", "member", "reader")
    other = ctx("p2", "member", "reader")
    admin = ctx("p9", "admin", "member", "reader", admin=True)
    own = image_target("p1")
    assert policy.allowed("get_image", reader, own)
    assert not policy.allowed("download_image", reader, own)
    assert policy.allowed("download_image", member, own)
    assert not policy.allowed("modify_image", reader, own)
    assert policy.allowed("modify_image", member, own)
    assert not policy.allowed("get_image", other, own)
    assert policy.allowed("get_image", other, image_target("p1", "public"))
    assert policy.allowed("get_image", other, image_target("p1", "shared", member="p2"))
    assert not policy.allowed("modify_image", other, image_target("p1", "shared", member="p2"))
    assert policy.allowed("modify_member", other, image_target("p1", "shared", member="p2"))
    assert not policy.allowed("modify_member", member, image_target("p1", "shared", member="p2"))
    assert not policy.allowed("publicize_image", member, own)
    assert policy.allowed("publicize_image", admin, own)
    assert not policy.allowed("add_image", member, image_target("p2"))
    assert policy.allowed("add_image", member, image_target("p1"))
    assert policy.is_admin(admin) and not policy.is_admin(member)
    assert set(IMAGE_RULES) <= set(policy.rules)
    with pytest.raises(Forbidden, match="delete_image"):
        policy.enforce("delete_image", reader, own)


def test_unknown_rule_falls_back_to_default_admin() -> None:
    policy = load_policy("")
    assert not policy.allowed("no_such_rule", ctx("p1", "member"), {})
    assert policy.allowed("no_such_rule", ctx("p1", "admin"), {})


def test_policy_file_overrides_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"publicize_image": "role:admin or role:publisher"\n'
                    '"download_image": "!"\n"something_else": "@"\n')
    policy = load_policy(str(path))
    assert policy.allowed("publicize_image", ctx("p1", "publisher"), image_target())
    assert not policy.allowed("download_image", ctx("p1", "admin", admin=True), image_target())
    assert policy.text["modify_image"] == IMAGE_RULES["modify_image"]
    assert "something_else" in caplog.text


@pytest.mark.parametrize(("name", "text", "error"), [
    ("p.yaml", "publicize_image: [1, 2]\n", "mapping of rule names"),
    ("p.yaml", "a: b: c\n", "policy_file"),
    ("p.json", "{nope", "policy_file"),
    ("p.yaml", '"get_image": "role:admin or"\n', "policy rule 'get_image'"),
])
def test_bad_policy_files_stop_the_start(tmp_path: Path, name: str, text: str, error: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_policy(str(path))


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy_file"):
        load_policy(str(tmp_path / "nope.yaml"))


def test_empty_policy_file_keeps_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("# nothing\n")
    assert load_policy(str(path)).text == load_policy("").text
