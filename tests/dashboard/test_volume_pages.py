"""Volumes, snapshots and the lineage graph in a real browser, against a real server whose
volume service runs on the embedded file backend."""

from __future__ import annotations

import time
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.dashboard.conftest import Page
from tests.integration._server import Server

PROJECT = "admin"  # noauth acts for default_owner


def _vol_api(server: Server) -> str:
    return f"{server.url}/volume/v3/{PROJECT}"


def _active_image(server: Server, name: str) -> str:
    image = httpx.post(f"{server.url}/v2/images", json={
        "name": name, "disk_format": "raw", "container_format": "bare"}).json()
    put = httpx.put(f"{server.url}/v2/images/{image['id']}/file", content=b"\x01" * (1 << 20),
                    headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 204, put.text
    return str(image["id"])


def _volume(server: Server, volume_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{_vol_api(server)}/volumes/{volume_id}").json()
    return body["volume"]


def _wait_volume(server: Server, volume_id: str, status: str = "available",
                 timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        vol = _volume(server, volume_id)
        if vol["status"] == status:
            return vol
        assert vol["status"] not in ("error", "error_deleting"), vol
        assert time.monotonic() < deadline, f"volume {volume_id} still {vol['status']}"
        time.sleep(0.2)


def _volume_from_page(page: Page) -> str:
    page.until(lambda d: "#/volume/" in d.current_url)
    return page.driver.current_url.rsplit("/", 1)[1]


def test_volume_from_image_clones_and_lineage(page: Page, server: Server) -> None:
    image_id = _active_image(server, "lineage-base")
    page.open(f"#/image/{image_id}")
    page.button("Create volume").click()
    page.until(lambda d: "#/new-volume" in d.current_url)
    page.find("input[name=name]").send_keys("vol-a")
    before = page.rendered()
    page.button("Create").click()
    page.wait_rendered(before)
    a = _volume_from_page(page)
    _wait_volume(server, a)
    assert _volume(server, a)["volume_image_metadata"]["image_id"] == image_id

    # clone A (-> B), then clone B (-> C): a chain of three volumes
    page.open(f"#/volume/{a}")
    page.act("Clone")
    b = _newest_clone_of(server, a)
    _wait_volume(server, b)
    page.open(f"#/volume/{b}")
    page.act("Clone")
    c = _newest_clone_of(server, b)
    _wait_volume(server, c)

    page.open(f"#/lineage/{c}")
    volumes = page.all("#lineage-graph g.node[data-kind=volume]")
    assert {v.get_attribute("data-id") for v in volumes} == {a, b, c}
    assert len(page.all(f"#lineage-graph g.node[data-kind=image][data-id='{image_id}']")) == 1
    page.shot("lineage")

    # delete the middle one: it stays in the graph, marked deferred, until C goes
    assert httpx.delete(f"{_vol_api(server)}/volumes/{b}").status_code == 202
    page.open(f"#/lineage/{c}")
    node = page.find(f"#lineage-graph g.node[data-id='{b}']")
    assert node.get_attribute("data-deferred") == "true"
    assert "deferred" in node.text
    assert f"{len(page.all('#lineage-graph g.node'))} nodes" in page.find("#lineage-summary").text
    # selecting it with the keyboard says why nothing is freed yet
    node.send_keys(Keys.ENTER)
    page.until(lambda d: "already deleted" in d.find_element(By.CSS_SELECTOR, ".node-panel").text)
    page.find(f"#lineage-graph g.node[data-id='{c}']").send_keys(Keys.ENTER)
    panel = page.find(".node-panel").text
    assert "frees 3 object(s)" in panel and "deferred or internal ancestor" in panel
    page.shot("lineage-deferred")


def _newest_clone_of(server: Server, source: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        vols = httpx.get(f"{_vol_api(server)}/volumes/detail").json()["volumes"]
        clones = [v for v in vols if v.get("source_volid") == source]
        if clones:
            newest = max(clones, key=lambda v: v["created_at"])
            return str(newest["id"])
        assert time.monotonic() < deadline, f"no clone of {source} appeared"
        time.sleep(0.2)


def test_extend_snapshot_and_bad_input(page: Page, server: Server) -> None:
    page.open("#/new-volume")
    page.find("input[name=name]").send_keys("plain")
    before = page.rendered()
    page.button("Create").click()
    page.wait_rendered(before)
    vol = _volume_from_page(page)
    _wait_volume(server, vol)
    page.open(f"#/volume/{vol}")
    size = page.find("input[name=new_size]")
    size.clear()
    size.send_keys("2", Keys.ENTER)
    _wait_volume(server, vol)
    assert _volume(server, vol)["size"] == 2
    # a smaller size: the field allows it once its minimum is lifted; the API refuses it
    page.open(f"#/volume/{vol}")
    page.driver.execute_script("document.querySelector('input[name=new_size]').min = 0")
    size = page.find("input[name=new_size]")
    size.clear()
    size.send_keys("1", Keys.ENTER)
    page.until(lambda d: "Extend failed" in page.flash())
    assert "Traceback" not in page.text()
    assert _volume(server, vol)["size"] == 2
    # a snapshot, listed on the snapshots page
    page.open(f"#/volume/{vol}")
    page.act("Snapshot")
    page.open("#/snapshots")
    page.until(lambda d: "plain-snap" in d.find_element(By.ID, "snapshot-table").text)
    page.shot("snapshots")
    # a hostile name shows as text, and a huge size is the API's error on the page
    page.open("#/new-volume")
    page.find("input[name=name]").send_keys("<img src=x onerror=alert(1)>")
    huge = page.find("input[name=size]")
    huge.clear()
    huge.send_keys("99999999999")
    page.button("Create").click()
    page.until(lambda d: "Creating the volume failed" in page.flash())
    assert "Traceback" not in page.text()
    page.open("#/volumes")
    assert not page.driver.execute_script("return document.querySelector('main img') !== null")
    page.shot("volumes")


def _tree(count: int) -> dict[str, Any]:
    """An image with ``count`` - 1 descendants: chains, fans and deferred nodes mixed."""
    nodes: list[dict[str, Any]] = [{"kind": "image", "id": "img-0", "name": "base",
                                    "status": "active", "hidden": False, "children": []}]
    for i in range(1, count):
        parent = nodes[i // 2] if i % 3 else nodes[i - 1]
        node = {"kind": "volume" if i % 4 else "clone_snapshot", "id": f"n-{i:03d}",
                "name": f"vol-{i:03d}", "status": "available", "hidden": i % 11 == 0,
                "independent": i % 13 == 0, "children": []}
        parent["children"].append(node)
        nodes.append(node)
    return nodes[0]


def test_two_hundred_nodes_are_drawn_without_overlap(page: Page) -> None:
    """The drawing at 200 nodes: every node drawn once, no two boxes overlap, labels kept
    short enough to fit their box, and every edge joins a node to its parent."""
    page.open("#/volumes")
    result = page.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const tree = arguments[0];
        import('/dashboard/static/js/lineage.js').then(({ lineageView }) => {
          const t0 = performance.now();
          const view = lineageView(tree, new Map(), 'n-150');
          const main = document.getElementById('main');
          main.replaceChildren(view);
          const boxes = [...document.querySelectorAll('#lineage-graph g.node rect')]
            .map((r) => r.getBoundingClientRect());
          const labels = [...document.querySelectorAll('#lineage-graph g.node')].map((g) => {
            const box = g.querySelector('rect').getBoundingClientRect();
            const text = g.querySelector('text.name').getBoundingClientRect();
            return text.right <= box.right + 0.5;
          });
          done({ ms: performance.now() - t0, boxes: boxes.map((b) => [b.left, b.top, b.right, b.bottom]),
                 labelsFit: labels.every(Boolean),
                 edges: document.querySelectorAll('#lineage-graph path.edge').length,
                 summary: document.getElementById('lineage-summary').textContent });
        });
    """, _tree(200))
    boxes = result["boxes"]
    assert len(boxes) == 200 and result["edges"] == 199
    assert result["labelsFit"]
    for i, (l1, t1, r1, b1) in enumerate(boxes):
        for l2, t2, r2, b2 in boxes[i + 1:]:
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, "two node boxes overlap"
    assert result["summary"].startswith("200 nodes")
    assert result["ms"] < 1000
    page.shot("lineage-200")
