"""Isolation: two projects and a reader against every image and task endpoint.

Every route of the Image API table is tried by the wrong project (404, exactly the answer for a
missing id), by a reader of the owning project (writes and downloads 403, reads 200), and with
no, expired, revoked, forged and malformed tokens and a 64 KiB token header (401 before any
handler runs). Nothing of the other project may show up: no ids in listings, no data bytes.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from cowshed.api.image.routes import table
from cowshed.domain.clock import utcnow
from cowshed.services.identity.tokens import TokenCodec
from tests.identity.conftest import Cloud

SECRET = b"alpha's secret bytes " * 50
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
MISSING = "00000000-0000-4000-8000-000000000000"
#: what each kind of request sends (the body matters only once the caller got that far).
BODIES: dict[str, dict[str, object]] = {
    "PATCH": {"json": [{"op": "replace", "path": "/name", "value": "pwned"}], "headers": PATCH},
    "PUT file": {"content": b"overwrite", "headers": {"Content-Type": "application/octet-stream"}},
    "POST import": {"json": {"method": {"name": "glance-direct"}}},
    "POST members": {"json": {"member": "someone"}},
    "PUT member": {"json": {"status": "accepted"}},
    "POST images": {"json": {"disk_format": "raw", "container_format": "bare"}},
    "POST locations": {"json": {"url": "file:///nowhere"}},
}


def routes() -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in table()]


def fill(path: str, image_id: str, task_id: str = MISSING) -> str:
    return (path.replace("{image_id}", image_id).replace("{tag}", "t")
            .replace("{member_id}", "someone").replace("{task_id}", task_id)
            .replace("{store}", "file").replace("{name}", "image"))


def kwargs(method: str, path: str) -> dict[str, object]:
    key = {("PATCH", False): "PATCH"}.get((method, False), "")
    if method == "PUT" and path.endswith(("/file", "/stage")):
        key = "PUT file"
    elif method == "POST" and path.endswith("/import"):
        key = "POST import"
    elif method == "POST" and path.endswith("/members"):
        key = "POST members"
    elif method == "PUT" and "{member_id}" in path:
        key = "PUT member"
    elif method == "POST" and path == "/v2/images":
        key = "POST images"
    elif method == "POST" and path.endswith("/locations"):
        key = "POST locations"
    return dict(BODIES.get(key, {}))


def request(cloud: Cloud, who: str | None, method: str, url: str, token: str | None = None,
            **kw: object):  # type: ignore[no-untyped-def]
    headers = dict(kw.pop("headers", {}))  # type: ignore[call-overload]
    if token is not None:
        headers["X-Auth-Token"] = token
    elif who is not None:
        headers.update(cloud.as_(who))
    return cloud.client.request(method, url, headers=headers, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def alpha_image(cloud: Cloud) -> str:
    resp = request(cloud, "alice", "POST", "/v2/images", json={
        "name": "alpha-private", "disk_format": "raw", "container_format": "bare",
        "visibility": "private", "tags": ["t"]})
    image_id: str = resp.json()["id"]
    put = request(cloud, "alice", "PUT", f"/v2/images/{image_id}/file", content=SECRET,
                  headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 204
    return image_id


@pytest.fixture(scope="module")
def alpha_shared(cloud: Cloud) -> str:
    """A shared image of alpha that beta is NOT a member of."""
    resp = request(cloud, "alice", "POST", "/v2/images", json={
        "name": "alpha-shared", "disk_format": "raw", "container_format": "bare"})
    return str(resp.json()["id"])


IMAGE_ROUTES = [(m, p) for m, p in routes() if "{image_id}" in p]


@pytest.mark.parametrize(("method", "path"), IMAGE_ROUTES, ids=[f"{m} {p}" for m, p in IMAGE_ROUTES])
def test_wrong_project_gets_404_like_a_missing_id(cloud: Cloud, alpha_image: str,
                                                  alpha_shared: str, method: str,
                                                  path: str) -> None:
    for image_id in (alpha_image, alpha_shared):
        resp = request(cloud, "bob", method, fill(path, image_id), **kwargs(method, path))
        missing = request(cloud, "bob", method, fill(path, MISSING), **kwargs(method, path))
        assert resp.status_code == 404, (resp.status_code, resp.text)
        assert missing.status_code == 404
        assert resp.text.replace(image_id, "ID") == missing.text.replace(MISSING, "ID")
        assert SECRET[:20] not in resp.content
    # and nothing changed
    shown = request(cloud, "alice", "GET", f"/v2/images/{alpha_image}").json()
    assert (shown["name"], shown["status"], shown["tags"]) == ("alpha-private", "active", ["t"])


READS = {("GET", "/v2/images/{image_id}"), ("GET", "/v2/images/{image_id}/tasks"),
         ("GET", "/v2/images/{image_id}/members")}


@pytest.mark.parametrize(("method", "path"), IMAGE_ROUTES, ids=[f"{m} {p}" for m, p in IMAGE_ROUTES])
def test_reader_reads_but_never_writes_or_downloads(cloud: Cloud, alpha_shared: str,
                                                    alpha_image: str, method: str,
                                                    path: str) -> None:
    image_id = alpha_shared if "member" in path else alpha_image
    resp = request(cloud, "rita", method, fill(path, image_id), **kwargs(method, path))
    if (method, path) in READS:
        assert resp.status_code == 200, resp.text
    elif "{member_id}" in path:
        assert resp.status_code in (403, 404), resp.text  # no such member, and no right
    elif path.startswith("/v2/stores/"):
        assert resp.status_code in (403, 404), resp.text  # admin only; multistore is off
    else:
        assert resp.status_code == 403, (resp.status_code, resp.text)
    assert SECRET[:20] not in resp.content


def test_reader_lists_and_may_not_create(cloud: Cloud, alpha_image: str) -> None:
    resp = request(cloud, "rita", "GET", "/v2/images")
    assert alpha_image in [i["id"] for i in resp.json()["images"]]
    assert request(cloud, "rita", "POST", "/v2/images", **kwargs("POST", "/v2/images")
                   ).status_code == 403


def test_listings_leak_nothing(cloud: Cloud, alpha_image: str, alpha_shared: str) -> None:
    for query in ("", "?visibility=all", "?visibility=private", "?visibility=shared",
                  "?member_status=all", "?visibility=shared&member_status=all",
                  f"?id={alpha_image}", "?name=alpha-private", "?owner=" + cloud.projects["alpha"],
                  f"?marker={MISSING}"):
        resp = request(cloud, "bob", "GET", "/v2/images" + query)
        assert resp.status_code in (200, 400), resp.text
        found = {i["id"] for i in resp.json().get("images", [])} if resp.status_code == 200 \
            else set()
        assert not found & {alpha_image, alpha_shared}
        assert "alpha-private" not in resp.text.replace("name=alpha-private", "")
    # a foreign marker is as unknown as a missing one
    foreign = request(cloud, "bob", "GET", f"/v2/images?marker={alpha_image}")
    assert foreign.status_code == 400
    assert foreign.text.replace(alpha_image, "M") == request(
        cloud, "bob", "GET", f"/v2/images?marker={MISSING}").text.replace(MISSING, "M")


def test_tasks_are_admin_only_and_project_scoped(cloud: Cloud, alpha_image: str) -> None:
    image_id = request(cloud, "alice", "POST", "/v2/images", json={
        "disk_format": "raw", "container_format": "bare"}).json()["id"]
    assert request(cloud, "alice", "PUT", f"/v2/images/{image_id}/stage", content=b"x" * 512,
                   headers={"Content-Type": "application/octet-stream"}).status_code == 204
    assert request(cloud, "alice", "POST", f"/v2/images/{image_id}/import",
                   json={"method": {"name": "glance-direct"}}).status_code == 202
    tasks = request(cloud, "alice", "GET", f"/v2/images/{image_id}/tasks").json()["tasks"]
    task_id = tasks[0]["id"]
    assert tasks[0]["owner"] == cloud.projects["alpha"]
    for who in ("alice", "rita", "bob"):
        assert request(cloud, who, "GET", f"/v2/tasks/{task_id}").status_code == 403
    assert request(cloud, "admin", "GET", f"/v2/tasks/{task_id}").status_code == 200
    assert request(cloud, "bob", "GET", f"/v2/images/{image_id}/tasks").status_code == 404
    for who in ("alice", "rita", "bob"):  # the task list is the tasks API too: admins only
        listed = request(cloud, who, "GET", "/v2/tasks")
        assert listed.status_code == 403 and task_id not in listed.text
    assert task_id in request(cloud, "admin", "GET", "/v2/tasks").text


def _bad_tokens(cloud: Cloud) -> dict[str, str]:
    services = cloud.client.app.state.services  # type: ignore[attr-defined]
    codec = services.tokens.codec
    admin_id = services.identity.repo.user_by_name("admin", "default").id
    now = utcnow()
    expired, _ = codec.issue(admin_id, cloud.projects["admin"], None, ("password",),
                             now - timedelta(hours=2), now - timedelta(seconds=1))
    forged, _ = TokenCodec(Fernet.generate_key()).issue(
        admin_id, cloud.projects["admin"], None, ("password",), now, now + timedelta(hours=1))
    revoked = cloud.token("alice", "alice-pw", "alpha")
    assert cloud.client.delete("/identity/v3/auth/tokens", headers={
        "X-Auth-Token": revoked, "X-Subject-Token": revoked}).status_code == 204
    genuine = cloud.tokens["admin"]
    tampered = genuine[:40] + ("A" if genuine[40] != "A" else "B") + genuine[41:]
    return {"expired": expired, "forged": forged, "revoked": revoked, "tampered": tampered,
            "garbage": "not-a-token", "empty": "", "64 KiB": "a" * 65536, "9 KiB": "a" * 9216,
            "json": json.dumps({"user": "admin"}), "truncated": genuine[:-10]}


#: every Image API route but the public ones: version discovery and the OpenAPI description
TOKEN_ROUTES = [(m, p) for m, p in routes()
                if not re.fullmatch(r"/(v2/?)?|/versions|/openapi\.yaml", p)]


def test_bad_tokens_are_401_everywhere(cloud: Cloud, alpha_image: str) -> None:
    bad = _bad_tokens(cloud)
    for method, path in TOKEN_ROUTES:
        url = fill(path, alpha_image)
        for name, token in [*bad.items(), ("none", None)]:
            if token is None:
                resp = cloud.client.request(method, url, **kwargs(method, path))  # type: ignore[arg-type]
            else:
                resp = request(cloud, None, method, url, token=token, **kwargs(method, path))
            if name == "64 KiB" and resp.status_code == 431:
                continue  # refused by the HTTP limits before auth: header fields over 64 KiB
            assert resp.status_code == 401, (name, method, path, resp.status_code, resp.text)
            assert resp.headers["www-authenticate"].startswith('Keystone uri="')
            assert SECRET[:20] not in resp.content and alpha_image not in resp.text
    shown = request(cloud, "alice", "GET", f"/v2/images/{alpha_image}").json()
    assert shown["name"] == "alpha-private"


def test_identity_api_refuses_bad_tokens_in_keystone_shape(cloud: Cloud) -> None:
    for name, token in _bad_tokens(cloud).items():
        resp = cloud.client.get("/identity/v3/users", headers={"X-Auth-Token": token})
        if name == "64 KiB" and resp.status_code == 431:
            continue  # the HTTP limits refuse header fields over 64 KiB first
        assert resp.status_code == 401, name
        assert resp.json()["error"]["code"] == 401


def test_non_admins_cannot_manage_identity(cloud: Cloud) -> None:
    for who in ("alice", "rita", "bob"):
        for method, path in (("GET", "/users"), ("POST", "/projects"), ("GET", "/roles"),
                             ("GET", "/role_assignments"), ("DELETE", "/users/x")):
            resp = cloud.client.request(method, "/identity/v3" + path, headers=cloud.as_(who),
                                        json={"project": {"name": "evil"}})
            assert resp.status_code == 403, (who, method, path, resp.text)
    assert "evil" not in cloud.admin("GET", "/projects").text
