"""Helpers for the dashboard tests: Debian's headless Chromium driven by Selenium (no tests here).

The browser and its driver are the system's (`make test` installs `chromium` and `chromium-driver`
when missing); `Service(CHROMEDRIVER)` names the driver explicitly, so Selenium Manager never looks
for, or downloads, anything. Waits are conditions with deadlines (WebDriverWait), never sleeps.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps")
if TYPE_CHECKING:
    from tests.integration.test_up_support import Up

DESKTOP = (1280, 800)
PHONE = (390, 844)
T = TypeVar("T")


def missing_browser() -> str | None:
    """Why the browser tests can't run here (None when they can): `make test` installs both."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists() and not shutil.which(Path(path).name):
            return f"{path} is missing: run `make test` (it installs chromium and chromium-driver)"
    return None


def start_browser(profile: Path) -> WebDriver:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    viewport(driver, *DESKTOP)
    return driver


@contextlib.contextmanager
def browser_session(profile: Path) -> Iterator[WebDriver]:
    """Chromium for one module; a missing browser fails, never skips (`make test`, what CI runs, installs it)."""
    reason = missing_browser()
    if reason:
        pytest.fail(reason)
    driver = start_browser(profile)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def fresh_page(browser: WebDriver, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebDriver]:
    """The module's browser for one test: off the previous test's page first (a page left polling a deleted
    resource must not log its 404 into this test's console), at desktop size, with a screenshot if it failed."""
    failed_before = request.session.testsfailed
    if browser.current_url.startswith("http"):
        browser.execute_script("sessionStorage.clear()")  # signed out: `visit` signs in as whom it is told
    browser.get("about:blank")
    viewport(browser, *DESKTOP)
    severe_logs(browser)  # each test answers for its own console errors
    yield browser
    if request.session.testsfailed > failed_before:
        print(f"\nscreenshot of the failed test: {screenshot(browser, tmp_path / f'{request.node.name}.png')}")


def viewport(driver: WebDriver, width: int, height: int, dark: bool = False) -> None:
    """Exact CSS viewport (phone widths included) and prefers-color-scheme, through DevTools."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})


def wait(driver: WebDriver, check: Callable[[WebDriver], T | None], what: str, timeout: float = 15) -> T:
    """Poll `check` until truthy (exceptions such as stale elements count as not yet)."""
    try:
        found = WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(Exception,)).until(check)
    except Exception as e:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from e
    assert found is not None
    return found


def click(driver: WebDriver, css: str, what: str, timeout: float = 15) -> None:
    """Click the element matching `css` once it takes the click: a page re-rendering between a find and its
    click swaps the element or has it not yet interactable (it failed a CI run), so both happen in the wait."""
    def clicked(d: WebDriver) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True

    wait(driver, clicked, what, timeout)


Rows = dict[str, dict[str, str]]


def rows_when(driver: WebDriver, ok: Callable[[Rows], bool], what: str) -> Rows:
    """The environment list once `ok(rows)` holds."""
    return wait(driver, lambda d: (found if ok(found := rows(d)) else None), what)


def attr(element: WebElement, name: str) -> str:
    return element.get_attribute(name) or ""


def rows(driver: WebDriver) -> dict[str, dict[str, str]]:
    """The environment list: `kind/namespace/name` → the row's cells by column label."""
    found: dict[str, dict[str, str]] = {}
    script = """return [...document.querySelectorAll('[data-testid=resource-row]')].map(tr => [
        `${tr.dataset.kind}/${tr.dataset.namespace}/${tr.dataset.name}`,
        Object.fromEntries([...tr.children].map(td => [td.dataset.label, td.textContent.trim()])),
        tr.className])"""
    for key, cells, classes in driver.execute_script(script):
        found[key] = {**cells, "class": classes}
    return found


def by_testid(driver: WebDriver, testid: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, f"[data-testid={testid}]")


def severe_logs(driver: WebDriver, allowed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Console errors since the last call (JS exceptions, console.error, failed loads), minus `allowed`
    substrings (e.g. the 403 of a request RBAC refuses on purpose)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e for e in entries if e.get("level") == "SEVERE" and not any(a in e.get("message", "") for a in allowed)]


def screenshot(driver: WebDriver, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path


def http(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            code, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    return code, json.loads(raw) if raw else None


def deployment(name: str, namespace: str, replicas: int, **labels: str) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"model": "llama-3-8b", "replicas": replicas, "gpusPerReplica": 1,
                     "placement": {"region": "us-west-2", "gpu": "a100"}}}


def sign_in(driver: WebDriver, up: Up, token: str) -> None:
    """Through the login form, whatever an earlier test left signed in."""
    driver.get(up.url + "/ui/")
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    box = wait(driver, lambda d: by_testid(d, "login-token")[0], "the login form")
    box.send_keys(token, Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#nav:not([hidden])"), "signed in")


def visit(driver: WebDriver, up: Up, route: str = "#/", token: str | None = None) -> None:
    """Open a route of the page as `token` (default: admin), signing in through the form if needed.

    Another principal's session is ended before the route loads, so the page never asks anything as them."""
    token = token or up.token
    if driver.current_url.startswith(up.url) and \
            driver.execute_script("return sessionStorage.getItem('bosun.token')") not in (None, token):
        driver.execute_script("sessionStorage.clear()")
        driver.get("about:blank")
    driver.get(f"{up.url}/ui/{route}")
    if driver.execute_script("return sessionStorage.getItem('bosun.token')") != token:
        box = wait(driver, lambda d: by_testid(d, "login-token")[0], "the login form")
        box.send_keys(token, Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#nav:not([hidden])"), "signed in")


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.ID, "logout").click()
    wait(driver, lambda d: by_testid(d, "login-token"), "the login form after signing out")
