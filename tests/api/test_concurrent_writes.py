"""Concurrent writers of one image's tags and properties: they queue, none gets a 500.

On PostgreSQL these raced into unique violations and deadlocks (and PUT of one tag also raced
on SQLite) before the repository locked the image row first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.api.conftest import CreateImage
from tests.api.helpers import PATCH21, TestClient


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` on threads released at once; return results (or the exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_same_tag_put_concurrently(client: TestClient, create_image: CreateImage) -> None:
    for _ in range(5):
        image_id = create_image()["id"]
        url = f"/v2/images/{image_id}/tags/web"
        codes = [r.status_code for r in _together([lambda url=url: client.put(url)] * 6)]
        assert codes == [204] * 6
        assert client.get(f"/v2/images/{image_id}").json()["tags"] == ["web"]


def test_patch_and_property_writes_concurrently(client: TestClient,
                                                create_image: CreateImage) -> None:
    repo = client.app.state.services.deps.repo  # type: ignore[attr-defined]
    for round_ in range(5):
        image_id = create_image(p="0")["id"]

        def patch(i: int, image_id: str = image_id) -> int:
            body = [{"op": "replace", "path": "/p", "value": str(i)}]
            resp = client.patch(f"/v2/images/{image_id}", json=body,
                                headers={"Content-Type": PATCH21})
            return resp.status_code

        def set_prop(i: int, image_id: str = image_id) -> None:
            repo.set_property(image_id, "q", str(i))

        calls: list[Callable[[], Any]] = []
        for i in range(3):
            calls += [lambda i=i: patch(i), lambda i=i: set_prop(i)]
        results = _together(calls)
        assert [r for r in results if isinstance(r, Exception)] == [], round_
        assert [r for r in results if isinstance(r, int) and r != 200] == [], round_
