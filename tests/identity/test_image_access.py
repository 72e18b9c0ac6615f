"""Image policy at the service layer: real services and database, callers as RequestContexts.

(The same rules over HTTP with real tokens are in the isolation suite.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cowshed.config import load_settings
from cowshed.domain.context import RequestContext
from cowshed.domain.query import ImageQuery
from cowshed.errors import Forbidden, InvalidRequest, NotFound
from cowshed.services.app import Services, open_services
from cowshed.services.images.service import PatchOp


def caller(project: str, *roles: str) -> RequestContext:
    return RequestContext(user_id=f"user-{project}", project_id=project, roles=frozenset(roles),
                          is_admin="admin" in roles, request_id="req-test")


MEMBER_A = caller("A", "member", "reader")
READER_A = caller("A", "reader")
MEMBER_B = caller("B", "member", "reader")
ADMIN = caller("Z", "admin", "member", "reader")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    services = open_services(load_settings(data_dir=tmp_path_factory.mktemp("access"), environ={}))
    yield services
    services.close()


def new_image(svc: Services, who: RequestContext = MEMBER_A, **body: object) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **body}
    return svc.images.create(who, body).id


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def upload(svc: Services, who: RequestContext, image_id: str, data: bytes = b"x" * 100) -> None:
    asyncio.run(svc.data.upload(who, image_id, _chunks(data), len(data), None))


def listed(svc: Services, who: RequestContext, **query: object) -> set[str]:
    return {i.id for i in svc.images.list_images(who, ImageQuery(limit=1000, **query))}  # type: ignore[arg-type]


def test_owner_is_the_callers_project(svc: Services) -> None:
    image = svc.images.get(MEMBER_A, new_image(svc))
    assert image.owner == "A"


def test_foreign_private_image_is_404_for_every_call(svc: Services) -> None:
    image_id = new_image(svc, visibility="private")
    upload(svc, MEMBER_A, image_id)
    calls = [
        lambda: svc.images.get(MEMBER_B, image_id),
        lambda: svc.images.update(MEMBER_B, image_id, [PatchOp("replace", "name", "x")]),
        lambda: svc.images.delete(MEMBER_B, image_id),
        lambda: svc.images.add_tag(MEMBER_B, image_id, "t"),
        lambda: svc.images.remove_tag(MEMBER_B, image_id, "t"),
        lambda: svc.images.deactivate(MEMBER_B, image_id),
        lambda: svc.images.reactivate(MEMBER_B, image_id),
        lambda: svc.data.plan_download(MEMBER_B, image_id, None, []),
        lambda: svc.imports.tasks_for_image(MEMBER_B, image_id),
        lambda: upload(svc, MEMBER_B, image_id),
    ]
    for call in calls:
        with pytest.raises(NotFound, match=f"No image found with ID {image_id}"):
            call()
    assert image_id not in listed(svc, MEMBER_B)
    assert image_id not in listed(svc, MEMBER_B, visibility="all")
    assert svc.images.get(ADMIN, image_id).id == image_id


def test_reader_lists_and_shows_but_may_not_write_or_download(svc: Services) -> None:
    image_id = new_image(svc)
    upload(svc, MEMBER_A, image_id)
    assert svc.images.get(READER_A, image_id).id == image_id
    assert image_id in listed(svc, READER_A)
    writes = [
        lambda: svc.images.update(READER_A, image_id, [PatchOp("replace", "name", "x")]),
        lambda: svc.images.delete(READER_A, image_id),
        lambda: svc.images.add_tag(READER_A, image_id, "t"),
        lambda: svc.images.deactivate(READER_A, image_id),
        lambda: svc.data.plan_download(READER_A, image_id, None, []),
        lambda: svc.images.create(READER_A, {"disk_format": "raw", "container_format": "bare"}),
    ]
    for call in writes:
        with pytest.raises(Forbidden):
            call()
    assert svc.images.get(ADMIN, image_id).name is None


def test_public_needs_admin_and_community_is_listed_on_request(svc: Services) -> None:
    with pytest.raises(Forbidden, match="publicize_image"):
        new_image(svc, visibility="public")
    image_id = new_image(svc)
    with pytest.raises(Forbidden, match="publicize_image"):
        svc.images.update(MEMBER_A, image_id, [PatchOp("replace", "visibility", "public")])
    svc.images.update(MEMBER_A, image_id, [PatchOp("replace", "visibility", "community")])
    assert image_id not in listed(svc, MEMBER_B)
    assert image_id in listed(svc, MEMBER_B, visibility="community")
    assert image_id in listed(svc, MEMBER_A)  # own community images are listed
    assert svc.images.get(MEMBER_B, image_id).id == image_id
    with pytest.raises(Forbidden):
        svc.images.update(MEMBER_B, image_id, [PatchOp("replace", "name", "x")])
    public = new_image(svc, ADMIN, visibility="public")
    assert public in listed(svc, MEMBER_B) and public in listed(svc, READER_A)


def test_only_admins_change_owners_or_create_for_others(svc: Services) -> None:
    with pytest.raises(Forbidden):
        new_image(svc, MEMBER_A, owner="B")
    image_id = new_image(svc)
    with pytest.raises(Forbidden):
        svc.images.update(MEMBER_A, image_id, [PatchOp("replace", "owner", "B")])
    svc.images.update(ADMIN, image_id, [PatchOp("replace", "owner", "B")])
    assert svc.images.get(MEMBER_B, image_id).owner == "B"
    assert new_image(svc, ADMIN, owner="B") in listed(svc, MEMBER_B)


def test_deactivated_download_is_admin_only(svc: Services) -> None:
    image_id = new_image(svc)
    upload(svc, MEMBER_A, image_id)
    svc.images.deactivate(MEMBER_A, image_id)
    with pytest.raises(Forbidden, match="deactivated"):
        svc.data.plan_download(MEMBER_A, image_id, None, [])
    assert svc.data.plan_download(ADMIN, image_id, None, []) is not None


def test_foreign_marker_is_like_an_unknown_one(svc: Services) -> None:
    image_id = new_image(svc, visibility="private")
    with pytest.raises(NotFound):
        svc.images.list_images(MEMBER_B, ImageQuery(marker=image_id))
    svc.images.list_images(MEMBER_A, ImageQuery(marker=image_id))


def test_tasks_api_is_admin_only_and_project_scoped(svc: Services, tmp_path: Path) -> None:
    from cowshed.domain.clock import utcnow
    from cowshed.domain.tasks import Task

    task = Task(id="11111111-2222-3333-4444-555555555555", image_id=None,
                type="api_image_import", status="pending", input={}, result=None, message="",
                owner="A", created_at=utcnow(), updated_at=utcnow(), expires_at=None)
    svc.deps.repo.insert_task(task)
    with pytest.raises(Forbidden, match="tasks_api_access"):
        svc.imports.get_task(MEMBER_A, task.id)
    assert svc.imports.get_task(ADMIN, task.id).id == task.id
    with pytest.raises(InvalidRequest):
        svc.imports.start(MEMBER_A, new_image(svc), {"method": {"name": "nope"}})
