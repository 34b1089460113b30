"""Fixtures modules share: the browser modules' (test_dashboard*.py: one Chromium per module, a fresh page per
test) and the node modules' `agents` (every `bosun agent` a test starts, and its replicas, ended after it)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.integration.node_support import Agent, end_agents
from tests.integration.test_dashboard_support import browser_session, fresh_page


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with browser_session(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def page(browser: WebDriver, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebDriver]:
    with fresh_page(browser, request, tmp_path) as driver:
        yield driver


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    end_agents(started)
