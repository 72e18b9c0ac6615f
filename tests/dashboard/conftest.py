"""A real server and a real headless Chromium (Debian's chromium + chromium-driver) for the
dashboard tests.

Screenshots the tests take go to a temporary folder, or to ``$COWSHED_SCREENSHOTS`` when set
(``COWSHED_SCREENSHOTS=docs/screenshots`` refreshes the ones in the docs).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration._server import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("dash") / "data")
    srv.start(timeout=60)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromedriver are needed (./run test installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("COWSHED_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Page:
    """The dashboard in the browser: navigation, waiting and finding by visible text."""

    def __init__(self, driver: WebDriver, base: str, shots: Path) -> None:
        self.driver = driver
        self.base = base
        self.shots = shots

    def open(self, hash_: str = "#/images") -> None:
        """Load the page afresh at ``hash_`` and wait until it has rendered."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.base}/dashboard/{hash_}")
        self.until(lambda d: d.execute_script("return document.body.dataset.rendered || ''"))

    def go(self, hash_: str) -> None:
        """Navigate inside the page (a hash change) and wait for the new render."""
        before = self.driver.execute_script("return document.body.dataset.rendered || ''")
        self.driver.execute_script("location.hash = arguments[0]", hash_)
        self.wait_rendered(before)

    def wait_rendered(self, before: str) -> None:
        self.until(lambda d: d.execute_script("return document.body.dataset.rendered || ''")
                   not in ("", before))

    def rendered(self) -> str:
        return str(self.driver.execute_script("return document.body.dataset.rendered || ''"))

    def until(self, cond: Callable[[Any], Any], timeout: float = 60) -> Any:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(cond)

    def find(self, css: str) -> WebElement:
        found: WebElement = self.until(lambda d: d.find_element(By.CSS_SELECTOR, css))
        return found

    def all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def button(self, text: str) -> WebElement:
        xpath = f"//main//*[self::button or self::a][normalize-space()='{text}']"
        found: WebElement = self.until(lambda d: d.find_element(By.XPATH, xpath))
        return found

    def act(self, text: str) -> None:
        """Click a button whose action re-renders the page, and wait for that render."""
        before = self.rendered()
        self.button(text).click()
        self.wait_rendered(before)

    def choose(self, css: str, value: str) -> None:
        Select(self.find(css)).select_by_value(value)

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def wait_text(self, needle: str, timeout: float = 60) -> None:
        self.until(lambda d: needle in d.find_element(By.TAG_NAME, "body").text, timeout)

    def flash(self) -> str:
        return str(self.driver.find_element(By.ID, "flash").text)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def accept_confirms(self) -> None:
        self.driver.execute_script("window.confirm = () => true")


@pytest.fixture
def page(browser: WebDriver, server: Server, shots: Path) -> Page:
    browser.set_window_size(1280, 800)
    return Page(browser, server.url, shots)


def wait_image(url: str, image_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        img: dict[str, Any] = httpx.get(f"{url}/v2/images/{image_id}").json()
        if img["status"] == status or time.monotonic() > deadline:
            return img
        time.sleep(0.2)
