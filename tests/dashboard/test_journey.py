"""An operator's first session, end to end in a real browser against a server that runs
cowshed's own identity (``auth_strategy = "standalone"``): log in, upload an image and watch it
become active, filter the list, open the image, share it with another project, create a volume
from it, clone it twice, open the lineage graph and see the three volumes, delete the middle one
and see it marked deferred."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.dashboard.conftest import Page
from tests.integration._server import Server

PASSWORD = "dashboard-admin-pw"


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("journey")
    config = root / "cowshed.toml"
    config.write_text(f'auth_strategy = "standalone"\nadmin_password = "{PASSWORD}"\n')
    srv = Server(root / "data", config)
    srv.start(timeout=90)
    yield srv
    srv.stop()


class Api:
    """The admin's view through the public APIs, with a token of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        answer = httpx.post(f"{url}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "password": PASSWORD, "domain": {"id": "default"}}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        assert answer.status_code == 201, answer.text
        self.headers = {"X-Auth-Token": answer.headers["X-Subject-Token"]}
        self.project = answer.json()["token"]["project"]["id"]

    def get(self, path: str) -> Any:
        answer = httpx.get(self.url + path, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = httpx.post(self.url + path, json=body, headers=self.headers)
        assert answer.status_code in (200, 201, 202), answer.text
        return answer.json()

    def volume(self, volume_id: str) -> dict[str, Any]:
        vol: dict[str, Any] = self.get(f"/volume/v3/{self.project}/volumes/{volume_id}")["volume"]
        return vol

    def wait_volume(self, volume_id: str, status: str = "available") -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while True:
            vol = self.volume(volume_id)
            if vol["status"] == status:
                return vol
            assert vol["status"] not in ("error", "error_deleting"), vol
            assert time.monotonic() < deadline, vol
            time.sleep(0.2)

    def clone_of(self, source: str) -> str:
        deadline = time.monotonic() + 60
        while True:
            vols = self.get(f"/volume/v3/{self.project}/volumes/detail")["volumes"]
            clones = [v["id"] for v in vols if v.get("source_volid") == source]
            if clones:
                return str(clones[0])
            assert time.monotonic() < deadline, f"no clone of {source}"
            time.sleep(0.2)


def test_an_operators_first_session(browser: WebDriver, standalone: Server, shots: Path,
                                    tmp_path: Path) -> None:
    api = Api(standalone.url)
    beta = api.post("/identity/v3/projects", {"project": {"name": "beta"}})["project"]["id"]
    page = Page(browser, standalone.url, shots)
    browser.set_window_size(1280, 800)

    # log in (the page asks first, and comes back to where it was going)
    page.open("#/images")
    page.until(lambda d: "#/login" in d.current_url)
    page.find("input[name=username]").send_keys("admin")
    page.find("input[name=password]").send_keys("wrong")
    page.button("Log in").click()
    page.until(lambda d: "Login failed" in page.flash())
    page.shot("login")
    password = page.find("input[name=password]")
    password.clear()
    before = page.rendered()
    password.send_keys(PASSWORD, Keys.ENTER)
    page.wait_rendered(before)
    page.until(lambda d: d.current_url.endswith("#/images"))
    assert "admin · admin" in page.find("#who").text

    # upload from a file input and watch it become active
    data = os.urandom(2 << 20)
    src = tmp_path / "journey.raw"
    src.write_bytes(data)
    page.go("#/upload")
    page.find("input[name=name]").send_keys("journey-image")
    page.choose("select[name=disk_format]", "raw")
    page.find("input[type=file]").send_keys(str(src))
    page.button("Upload").click()
    page.until(lambda d: "#/image/" in d.current_url and "is active" in page.flash(), timeout=120)
    image_id = browser.current_url.rsplit("/", 1)[1]
    assert api.get(f"/v2/images/{image_id}")["status"] == "active"

    # filter the list, open the image
    page.go("#/images?name=journey-image")
    rows = page.all("#image-table tbody tr")
    assert len(rows) == 1 and "journey-image" in rows[0].text
    before = page.rendered()
    rows[0].find_element("css selector", "a").click()
    page.wait_rendered(before)

    # share it with project beta
    page.act("shared")
    page.find("input[name=member]").send_keys(beta)
    before = page.rendered()
    page.button("Share").click()
    page.wait_rendered(before)
    members = api.get(f"/v2/images/{image_id}/members")["members"]
    assert [(m["member_id"], m["status"]) for m in members] == [(beta, "pending")]
    assert beta in page.find("main").text
    page.shot("image-shared")

    # a volume from it, cloned twice (a chain)
    page.button("Create volume").click()
    page.until(lambda d: "#/new-volume" in d.current_url)
    page.find("input[name=name]").send_keys("journey-a")
    before = page.rendered()
    page.button("Create").click()
    page.wait_rendered(before)
    a = browser.current_url.rsplit("/", 1)[1]
    api.wait_volume(a)
    page.open(f"#/volume/{a}")
    page.act("Clone")
    b = api.clone_of(a)
    api.wait_volume(b)
    page.open(f"#/volume/{b}")
    page.act("Clone")
    c = api.clone_of(b)
    api.wait_volume(c)

    # the lineage graph shows the three volumes
    page.open(f"#/lineage/{c}")
    shown = {n.get_attribute("data-id") for n in page.all("#lineage-graph g.node[data-kind=volume]")}
    assert shown == {a, b, c}

    # delete the middle one in the page: it stays, marked deferred, while C needs it
    page.open(f"#/volume/{b}")
    page.accept_confirms()
    page.button("Delete").click()
    page.until(lambda d: d.current_url.endswith("#/volumes"))
    page.open(f"#/lineage/{c}")
    middle = page.find(f"#lineage-graph g.node[data-id='{b}']")
    assert middle.get_attribute("data-deferred") == "true"
    assert "deferred" in middle.text
    page.shot("journey-lineage")
    # and the volume list no longer offers it
    page.open("#/volumes")
    assert b not in {r.get_attribute("href").rsplit("/", 1)[1]
                     for r in page.all("#volume-table tbody tr td:first-child a")}
