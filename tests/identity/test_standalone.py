"""The standalone identity as a library: bootstrap, key file, tokens across processes,
password rules, rate limiting and the ``cowshed identity`` CLI."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cowshed.cli.main import main
from cowshed.config import Settings, load_settings
from cowshed.errors import ConfigError, TooManyRequests, Unauthorized
from cowshed.services.app import Services, open_services
from cowshed.services.identity.login import AuthRequest, PasswordCredentials, Scope
from cowshed.services.identity.passwords import hash_password, verify_password
from cowshed.services.identity.ratelimit import LoginLimiter


def standalone(data_dir: Path, **env: str) -> Settings:
    return load_settings(data_dir=data_dir, environ={"COWSHED_AUTH_STRATEGY": "standalone", **env})


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = open_services(standalone(tmp_path / "d", COWSHED_ADMIN_PASSWORD="pw-admin"))
    services.bootstrap_identity("http://127.0.0.1:9292/identity")
    yield services
    services.close()


def login(svc: Services, user: str, password: str, project: str | None = "admin") -> str:
    assert svc.tokens is not None
    scope = Scope(project_name=project, project_domain_id="default") if project else Scope()
    token, _ = svc.tokens.issue(AuthRequest(("password",), PasswordCredentials(
        password, user_name=user, domain_id="default"), scope=scope))
    return token


def test_bootstrap_generates_a_password_once_with_an_openrc(tmp_path: Path) -> None:
    settings = standalone(tmp_path / "d")
    with_services = open_services(settings)
    try:
        first = with_services.bootstrap_identity("http://127.0.0.1:9/identity")
        assert first is not None and first.generated_password and first.openrc
        assert stat.S_IMODE(first.openrc.stat().st_mode) == 0o600
        text = first.openrc.read_text()
        assert f"OS_PASSWORD={first.generated_password}" in text
        assert "OS_AUTH_URL=http://127.0.0.1:9/identity" in text
        login(with_services, "admin", first.generated_password)
        again = with_services.bootstrap_identity("http://127.0.0.1:9/identity")
        assert again is not None and again.generated_password is None
        assert again.admin.id == first.admin.id
    finally:
        with_services.close()


def test_token_key_file_is_private(tmp_path: Path) -> None:
    settings = standalone(tmp_path / "d")
    open_services(settings).close()
    key = settings.token_key_path
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        open_services(settings)


def test_revocation_and_disabling_reach_every_process(svc: Services) -> None:
    other = open_services(svc.settings)  # a second process on the same database and key
    try:
        token = login(svc, "admin", "pw-admin")
        assert other.auth.authenticate(token, "req-1").is_admin
        assert svc.tokens is not None
        svc.tokens.revoke(token)
        with pytest.raises(Unauthorized):
            other.auth.authenticate(token, "req-2")
        ctx = svc.admin_context()
        project = svc.identity.create_project(ctx, "p")
        user = svc.identity.create_user(ctx, "u", "pw-user", default_project_id=project.id)
        member = svc.identity.find_role(ctx, "member")
        from cowshed.domain.identity import Assignment

        grant = Assignment(user.id, member.id, project_id=project.id)
        svc.identity.grant(ctx, grant)
        token = login(svc, "u", "pw-user", "p")
        seen = other.auth.authenticate(token, "r")
        assert (seen.project_id, seen.is_admin) == (project.id, False)
        assert seen.roles == {"member", "reader"}
        svc.identity.revoke_grant(ctx, grant)  # no role left on the project: token invalid
        with pytest.raises(Unauthorized):
            other.auth.authenticate(token, "r")
        svc.identity.grant(ctx, grant)
        from cowshed.services.identity.service import UserChanges

        svc.identity.update_user(ctx, user.id, UserChanges(enabled=False))
        with pytest.raises(Unauthorized):
            other.auth.authenticate(token, "r")
        with pytest.raises(Unauthorized):
            login(svc, "u", "pw-user", "p")
    finally:
        other.close()


def test_wrong_passwords_are_rate_limited(svc: Services) -> None:
    limit = svc.settings.lockout_failure_attempts
    for _ in range(limit):
        with pytest.raises(Unauthorized):
            login(svc, "admin", "wrong")
    with pytest.raises(TooManyRequests):
        login(svc, "admin", "pw-admin")  # even the right one, until the window passed
    with pytest.raises(Unauthorized):
        login(svc, "nobody", "x")  # other names are not affected


def test_limiter_window() -> None:
    now = [100.0]
    limiter = LoginLimiter(2, 60, clock=lambda: now[0])
    limiter.failed("k")
    limiter.failed("k")
    with pytest.raises(TooManyRequests) as caught:
        limiter.check("k")
    assert caught.value.retry_after == 60
    now[0] += 60.5
    limiter.check("k")
    limiter.failed("k")
    limiter.succeeded("k")
    limiter.check("k")


def test_password_hashes() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$14$8$1$") and "correct" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("x", None)
    assert not verify_password("x", "md5$nope")
    assert not verify_password("x" * 5000, stored)
    assert hash_password("a") != hash_password("a")


def test_cowshed_identity_cli(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, [*args[:3], "--data-dir", data, *args[3:]])
        assert result.exit_code == 0, result.output
        return result.output

    run("identity", "project", "create", "alpha", "--description", "first")
    shown = run("identity", "project", "set", "alpha", "--quota", "image_count_total=3",
                "--quota", "image_size_total=10", "--format", "json")
    assert '"limit": 3' in shown and '"limit": 10' in shown
    bad = runner.invoke(main, ["identity", "project", "set", "--data-dir", data, "alpha",
                               "--quota", "nonsense=1"])
    assert bad.exit_code == 1 and "Unknown quota" in bad.output
    run("identity", "user", "create", "alice", "--password", "pw-a", "--project", "alpha",
        "--role", "member")
    run("identity", "user", "create", "rita", "--password", "pw-r")
    run("identity", "role", "add", "reader", "--user", "rita", "--project", "alpha")
    assert "alice" in run("identity", "user", "list")
    assert '"name": "alpha"' in run("identity", "project", "list", "--format", "json")
    assert {"admin", "member", "reader"} <= set(run("identity", "role", "list").split())
    svc = open_services(standalone(tmp_path / "d"))
    try:
        assert svc.auth.authenticate(login(svc, "alice", "pw-a", "alpha"), "r").roles == \
            {"member", "reader"}
        assert svc.auth.authenticate(login(svc, "rita", "pw-r", "alpha"), "r").roles == \
            {"reader"}
        run("identity", "role", "remove", "reader", "--user", "rita", "--project", "alpha")
        run("identity", "user", "set", "alice", "--password", "pw-new")
        with pytest.raises(Unauthorized):
            login(svc, "alice", "pw-a", "alpha")
        login(svc, "alice", "pw-new", "alpha")
        with pytest.raises(Unauthorized):
            login(svc, "rita", "pw-r", "alpha")  # no role on alpha any more
        run("identity", "user", "delete", "alice", "rita")
        run("identity", "project", "delete", "alpha")
    finally:
        svc.close()
    failed = runner.invoke(main, ["identity", "user", "delete", "--data-dir", data, "ghost"])
    assert failed.exit_code == 1 and "Could not find user" in failed.output
