"""The image pages in a real browser: upload with progress, filter, detail, actions, bad input,
hostile names shown as text, 1,000 images under a second, keyboard and phone width."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.dashboard.conftest import Page, wait_image
from tests.integration._server import Server

XSS = "<img src=x onerror=alert(1)>"


def _create(url: str, name: str, **extra: object) -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare", **extra}
    answer = httpx.post(f"{url}/v2/images", json=body)
    assert answer.status_code == 201, answer.text
    image_id: str = answer.json()["id"]
    return image_id


def test_upload_from_the_file_input_becomes_active(page: Page, server: Server,
                                                   tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    src = tmp_path / "disk.raw"
    src.write_bytes(data)
    page.open("#/upload")
    page.find("input[name=name]").send_keys("browser-upload")
    page.choose("select[name=disk_format]", "raw")
    page.find("input[type=file]").send_keys(str(src))
    # a slow uplink, so the progress bar can be seen moving
    page.driver.set_network_conditions(offline=False, latency=5, download_throughput=64 << 20,
                                       upload_throughput=1 << 20)
    try:
        page.button("Upload").click()
        seen = page.until(lambda d: d.execute_script(
            "const p = document.querySelector('main progress');"
            "return p && !p.hidden && p.value > 0 && p.value < 100 ? p.value : null"))
        assert 0 < seen < 100
        page.shot("upload-progress")
    finally:
        page.driver.delete_network_conditions()
    page.until(lambda d: "#/image/" in d.current_url, timeout=120)
    page.wait_text("browser-upload")
    image_id = page.driver.current_url.rsplit("/", 1)[1]
    img = wait_image(server.url, image_id, "active")
    assert img["status"] == "active"
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert hashlib.md5(data).hexdigest() in page.text()
    page.shot("image-detail")


def test_list_filters_sort_and_pages(page: Page, server: Server) -> None:
    for i in range(3):
        _create(server.url, f"filter-me-{i}")
    _create(server.url, "other-name")
    page.open("#/images")
    name = page.find("input[name=name]")
    before = page.rendered()
    name.send_keys("filter-me-1", Keys.ENTER)
    page.wait_rendered(before)
    assert "name=filter-me-1" in page.driver.current_url
    page.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#image-table tbody tr")) == 1)
    assert "filter-me-1" in page.find("#image-table").text
    assert "other-name" not in page.find("#image-table").text
    # sort by name ascending, 25 per page; then page with the API's marker
    page.go("#/images?sort_key=name&sort_dir=asc&limit=25")
    names = [r.text for r in page.all("#image-table tbody tr td:first-child")]
    assert names == sorted(names)
    page.go("#/images?sort_key=name&sort_dir=asc&limit=25&name=filter-me-0")
    assert len(page.all("#image-table tbody tr")) == 1


def test_paging_follows_the_next_link(page: Page, server: Server) -> None:
    for i in range(30):
        _create(server.url, f"pg-{i:02d}", tags=["paging"])
    page.open("#/images?tag=paging&sort_key=name&sort_dir=asc&limit=25")
    first = [r.text for r in page.all("#image-table tbody tr td:first-child")]
    assert len(first) == 25
    before = page.rendered()
    page.button("Next →").click()
    page.wait_rendered(before)
    assert "marker=" in page.driver.current_url
    page.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#image-table tbody tr")) == 5)
    second = [r.text for r in page.all("#image-table tbody tr td:first-child")]
    assert first[-1] < second[0] and set(first).isdisjoint(second)


def test_actions_protect_deactivate_tag_delete(page: Page, server: Server) -> None:
    image_id = _create(server.url, "actions")
    assert httpx.put(f"{server.url}/v2/images/{image_id}/file", content=b"x" * 4096,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
    page.open(f"#/image/{image_id}")
    page.accept_confirms()
    page.act("Protect")
    assert httpx.get(f"{server.url}/v2/images/{image_id}").json()["protected"]
    page.button("Delete").click()
    page.until(lambda d: "Delete failed" in page.flash())
    assert "protected" in page.flash().lower()
    page.act("Unprotect")
    page.act("Deactivate")
    assert httpx.get(f"{server.url}/v2/images/{image_id}").json()["status"] == "deactivated"
    page.act("Reactivate")
    assert httpx.get(f"{server.url}/v2/images/{image_id}").json()["status"] == "active"
    before = page.rendered()
    page.find("input[name=tag]").send_keys("gold", Keys.ENTER)
    page.wait_rendered(before)
    assert "gold" in httpx.get(f"{server.url}/v2/images/{image_id}").json()["tags"]
    page.accept_confirms()
    page.button("Delete").click()
    page.until(lambda d: d.current_url.endswith("#/images"))
    assert httpx.get(f"{server.url}/v2/images/{image_id}").status_code == 404


def test_hostile_names_show_as_text(page: Page, server: Server) -> None:
    image_id = _create(server.url, XSS, hostile_prop=XSS, tags=[XSS[:40]])
    page.open(f"#/image/{image_id}")
    page.wait_text(XSS)
    assert XSS in page.find("h1").text
    assert not page.driver.execute_script("return document.querySelector('main img') !== null")
    page.open("#/images")
    page.wait_text(XSS)
    assert not page.driver.execute_script("return document.querySelector('main img') !== null")


def test_bad_input_gets_the_api_error_not_a_stack_trace(page: Page, server: Server) -> None:
    page.open("#/upload")
    page.find("input[name=name]").send_keys("x" * 300)  # the field stops at 255
    page.driver.execute_script(
        "document.querySelector('input[name=name]').removeAttribute('maxlength');"
        "document.querySelector('input[name=name]').value = 'y'.repeat(300);")
    page.find("input[type=file]").send_keys(__file__)
    page.button("Upload").click()
    page.until(lambda d: "Upload failed" in page.flash())
    assert "255" in page.flash() or "long" in page.flash().lower()
    assert "Traceback" not in page.text()
    # an import URL the server's filters refuse
    page.open("#/import")
    page.find("input[name=name]").send_keys("bad-import")
    page.find("input[name=uri]").send_keys("http://127.0.0.1:1/x")
    page.button("Import").click()
    page.until(lambda d: "#/image/" in d.current_url or "Import failed" in page.flash())
    assert "Traceback" not in page.text()
    # a download that cannot succeed (no such host) ends as a failed task, whose message the
    # tasks page shows
    image_id = _create(server.url, "doomed-import")
    answer = httpx.post(f"{server.url}/v2/images/{image_id}/import", json={
        "method": {"name": "web-download", "uri": "http://no-such-host.invalid/disk.raw"}})
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 60
    while True:
        tasks = httpx.get(f"{server.url}/v2/tasks").json()["tasks"]
        failed = [t for t in tasks if t["status"] == "failure"]
        if failed or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert failed, tasks
    page.open("#/tasks")
    table = page.find("#task-table").text
    assert failed[0]["id"] in table and "failure" in table
    message = httpx.get(f"{server.url}/v2/tasks/{failed[0]['id']}").json()["message"]
    assert message and message.split("\n")[0][:40] in table
    page.shot("tasks")
    # an unknown image id answers the API's 404 message on the page
    page.open("#/image/00000000-0000-0000-0000-000000000000")
    page.wait_text("Something went wrong")
    assert "No image found" in page.text() or "not be found" in page.text()


def test_a_thousand_images_render_within_a_second(page: Page, server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(1000):
            client.post("/v2/images", json={"name": f"bulk-{i:04d}", "tags": ["bulk"]})
    page.open("#/images?tag=bulk&limit=1000")
    rows = page.all("#image-table tbody tr")
    assert len(rows) == 1000
    render_ms = int(page.find("main").get_attribute("data-render-ms") or "99999")
    assert render_ms < 1000, f"{render_ms} ms to fetch and render 1,000 images"
    page.shot("image-list")


def test_keyboard_only_navigation(page: Page) -> None:
    page.open("#/images")
    # the skip link is the first thing in the tab order
    first = page.driver.execute_script(
        "return document.querySelector('a[href], button, input, select, [tabindex]').textContent")
    assert first == "Skip to content"
    # after a render the focus is on <main>, so screen readers start at the content; going
    # back with Shift+Tab reaches the sections, and Enter opens one
    assert page.driver.switch_to.active_element.get_attribute("id") == "main"
    for _ in range(12):
        active = page.driver.switch_to.active_element
        if (active.get_attribute("href") or "").endswith("#/stores"):
            break
        active.send_keys(Keys.SHIFT, Keys.TAB)
    assert (page.driver.switch_to.active_element.get_attribute("href") or "").endswith("#/stores")
    before = page.rendered()
    page.driver.switch_to.active_element.send_keys(Keys.ENTER)
    page.wait_rendered(before)
    assert page.driver.current_url.endswith("#/stores")
    assert page.driver.switch_to.active_element.get_attribute("id") == "main"
    # forms work from the keyboard too: Tab into the filter form and submit with Enter
    page.open("#/images")
    page.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert page.driver.switch_to.active_element.tag_name in ("a", "input", "button")


def test_phone_width_has_no_sideways_scroll(page: Page) -> None:
    page.driver.set_window_size(390, 844)
    try:
        for where in ("#/images", "#/upload", "#/stores"):
            page.open(where)
            overflow = page.driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{where} scrolls sideways by {overflow}px"
        page.shot("phone-stores")
    finally:
        page.driver.set_window_size(1280, 800)


def test_stores_show_capacity_and_usage(page: Page, server: Server) -> None:
    page.open("#/stores")
    page.wait_text("image(s)")
    card = page.find(".card")
    assert "file" in card.text
    page.shot("stores")
