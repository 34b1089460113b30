"""The console's Nodes view (issue #25 item 9, #28's "a Nodes view once nodes exist"), in a real headless
Chromium against one real `bosun up --node-timeout 2` for the module, with two real `bosun agent`
processes standing for two machines.

What an operator needs to see: every node, Ready or NotReady and why, cordoned or not, its labels, GPUs
allocated/total, replicas, and how long ago it reported (never a raw epoch), live as it changes, a
partitioned node (SIGSTOP of its agent) first and highlighted, on a phone as well as on a desk; and a
Principal that may not see nodes told so plainly, without a console error.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.integration.node_support import Agent, join, wait_node
from tests.integration.test_dashboard_support import (
    DESKTOP,
    PHONE,
    attr,
    by_testid,
    screenshot,
    severe_logs,
    viewport,
    visit,
    wait,
)
from tests.integration.test_dashboard_support import (
    rows_when as env_rows_when,
)
from tests.integration.test_up_support import BOSUN, Up

NODE_TIMEOUT = 2
VIEWER = "nina-viewer-token-3c71b9"
POLICY = {
    "principals": [{"name": "nina", "tokenSha256": hashlib.sha256(VIEWER.encode()).hexdigest()}],
    "roles": [{"name": "viewer", "rules": [{"verbs": ["get", "list", "watch", "history"],
                                            "kinds": ["ModelDeployment"], "namespaces": ["team-a"]}]}],
    "bindings": [{"principal": "nina", "role": "viewer"}],
}
MACHINES = (("gpu-a", "zone=a,gpu=h100", "0,1"), ("gpu-b", "zone=b", "0,1,2"))
RAW_EPOCH = re.compile(r"\b1[5-9]\d{8}(\.\d+)?\b")
Rows = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("dashboard-nodes")
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    running = Up(root / "data", "--node-timeout", str(NODE_TIMEOUT), "--policy", str(policy)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def agents(up: Up, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Agent]]:
    root = tmp_path_factory.mktemp("machines")
    started: dict[str, Agent] = {}
    try:
        for name, labels, gpus in MACHINES:
            started[name] = Agent(join(up, name, root), name, root / name, "--labels", labels, "--gpus", gpus)
        for name, _, gpus in MACHINES:
            wait_node(up, name, "Ready", totalGpus=len(gpus.split(",")))
        yield started
    finally:
        for agent in started.values():
            try:
                os.kill(agent.proc.pid, signal.SIGCONT)  # a test that stopped it and failed: let it end cleanly
            except ProcessLookupError:
                pass
            agent.stop()


def node_rows(driver: WebDriver) -> Rows:
    """The Nodes view: name → its cells by column label (plus the row's class and order)."""
    script = """return [...document.querySelectorAll('[data-testid=node-row]')].map((tr, i) => [tr.dataset.name,
        Object.fromEntries([...tr.children].map(td => [td.dataset.label, td.textContent.trim()])),
        tr.className, String(i)])"""
    return {name: {**cells, "class": classes, "index": index}
            for name, cells, classes, index in driver.execute_script(script)}


def rows_when(driver: WebDriver, ok: Callable[[Rows], bool], what: str, timeout: float = 20) -> Rows:
    return wait(driver, lambda d: (found if ok(found := node_rows(d)) else None), what, timeout)


def open_nodes(driver: WebDriver, up: Up, token: str | None = None) -> None:
    """Through the nav link, as a user would."""
    visit(driver, up, "#/", token)
    wait(driver, lambda d: by_testid(d, "nodes-link")[0], "the Nodes link").click()
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Nodes", "the Nodes view")


def bosun(up: Up, *args: str) -> str:
    done = subprocess.run([BOSUN, "--data", str(up.data), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_joined_nodes_are_listed_ready_with_their_gpus_and_open_on_their_page(
        up: Up, agents: dict[str, Agent], page: WebDriver, tmp_path: Path) -> None:
    open_nodes(page, up)
    found = rows_when(page, lambda r: all(r.get(n, {}).get("Status") == "Ready" for n, _, _ in MACHINES),
                      "both nodes Ready")
    a, b = found["gpu-a"], found["gpu-b"]
    assert (a["GPUs"], b["GPUs"]) == ("0/2", "0/3") and a["Replicas"] == b["Replicas"] == "0"
    assert a["Labels"] == "gpu=h100, zone=a" and b["Labels"] == "zone=b"
    assert a["Schedulable"] == "yes" and "stuck" not in a["class"].split()
    assert a["Reason"].startswith("AgentReady")
    for row in (a, b):  # humane relative time, never the epoch the status carries
        assert re.fullmatch(r"just now|\d+[smhd] ago", row["Heartbeat"]), row
    text = page.execute_script("return document.querySelector('main').innerText")
    assert not RAW_EPOCH.search(text), text
    assert re.search(r"\d+ nodes, \d+ Ready · 0/\d+ GPUs allocated", text), text  # the summary adds them up
    assert attr(by_testid(page, "nodes-link")[0], "aria-current") == "page"
    # click through to the node's own page: its status and timeline (the agent's join among it)
    page.find_element(By.CSS_SELECTOR, "[data-testid=node-row][data-name=gpu-a] a.name").click()
    wait(page, lambda d: "gpu-a" in d.find_element(By.TAG_NAME, "h1").text, "gpu-a's page")
    wait(page, lambda d: "node.joined" in d.find_element(By.CSS_SELECTOR, "ol.timeline").text, "its timeline")
    assert "#/r/Node/_cluster/gpu-a" in page.current_url
    print(f"\nnode page screenshot: {screenshot(page, tmp_path / 'node-page.png')}")
    page.find_element(By.LINK_TEXT, "← Nodes").click()
    rows_when(page, lambda r: "gpu-a" in r, "back on the Nodes view")
    assert severe_logs(page) == []


def test_a_cordoned_node_shows_unschedulable_live(up: Up, agents: dict[str, Agent], page: WebDriver) -> None:
    open_nodes(page, up)
    rows_when(page, lambda r: r.get("gpu-b", {}).get("Schedulable") == "yes", "gpu-b schedulable")
    bosun(up, "cordon", "node/gpu-b")
    try:
        found = rows_when(page, lambda r: r.get("gpu-b", {}).get("Schedulable") == "Cordoned",
                          "gpu-b cordoned, without a reload")
        assert "cordoned" in found["gpu-b"]["class"].split() and found["gpu-b"]["Status"] == "Ready"
    finally:
        bosun(up, "uncordon", "node/gpu-b")
    rows_when(page, lambda r: r.get("gpu-b", {}).get("Schedulable") == "yes", "gpu-b uncordoned")
    assert severe_logs(page) == []


def test_a_partitioned_node_turns_not_ready_first_and_highlighted_then_ready_again(
        up: Up, agents: dict[str, Agent], page: WebDriver, tmp_path: Path) -> None:
    open_nodes(page, up)
    rows_when(page, lambda r: r.get("gpu-b", {}).get("Status") == "Ready", "gpu-b Ready")
    agent = agents["gpu-b"]
    os.kill(agent.proc.pid, signal.SIGSTOP)  # a partition: the agent neither beats nor reports
    try:
        found = rows_when(page, lambda r: r.get("gpu-b", {}).get("Status") == "⚠ NotReady",
                          "gpu-b NotReady", timeout=NODE_TIMEOUT + 20)
        row = found["gpu-b"]
        assert "stuck" in row["class"].split() and row["Reason"].startswith("HeartbeatLost"), row
        assert row["index"] == "0"  # the node that needs someone comes first
        tr = page.find_element(By.CSS_SELECTOR, "[data-testid=node-row][data-name=gpu-b]")
        healthy = page.find_element(By.CSS_SELECTOR, "[data-testid=node-row][data-name=gpu-a]")
        colors = [page.execute_script("return getComputedStyle(arguments[0]).backgroundColor", r)
                  for r in (tr, healthy)]
        assert colors[0] != colors[1], colors
        # the phone: one card per node, nothing wider than the screen
        viewport(page, *PHONE)
        wait(page, lambda d: d.execute_script("return document.documentElement.scrollWidth") <= PHONE[0],
             "no sideways scrolling at phone width")
        shot = screenshot(page, tmp_path / "nodes-phone.png")
        print(f"\nphone screenshot: {shot}")
        card = tr.rect
        assert card["width"] <= PHONE[0] and card["height"] < 220, card
        nav = page.find_element(By.ID, "nav")  # every view's link in sight, none scrolled away
        assert page.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", nav)
        viewport(page, *DESKTOP)
        print(f"desktop screenshot: {screenshot(page, tmp_path / 'nodes-desktop.png')}")
        # the environment list says the same of it
        visit(page, up, "#/?kind=Node")
        listed = env_rows_when(page, lambda r: "Node//gpu-b" in r, "gpu-b in the environment list")["Node//gpu-b"]
        assert "stuck" in listed["class"].split() and listed["Reason"].startswith("HeartbeatLost"), listed
        page.find_element(By.CSS_SELECTOR, "[data-testid=nodes-link]").click()
        rows_when(page, lambda r: r.get("gpu-b", {}).get("Status") == "⚠ NotReady", "back on the Nodes view")
    finally:
        os.kill(agent.proc.pid, signal.SIGCONT)
    rows_when(page, lambda r: r.get("gpu-b", {}).get("Status") == "Ready", "gpu-b Ready again", timeout=20)
    assert "stuck" not in node_rows(page)["gpu-b"]["class"].split()
    assert severe_logs(page) == []


def test_a_principal_that_may_not_see_nodes_is_told_so_without_a_console_error(
        up: Up, agents: dict[str, Agent], page: WebDriver) -> None:
    visit(page, up, "#/nodes", VIEWER)  # straight there: the environment view has refusals of its own to log
    notice = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "main .error"), "the forbidden notice")
    assert "Forbidden" in notice.text and "watch" in notice.text, notice.text
    assert node_rows(page) == {}
    assert severe_logs(page) == []
    visit(page, up, "#/nodes")  # the admin again, on the same route: the nodes are back
    rows_when(page, lambda r: {"gpu-a", "gpu-b"} <= set(r), "the nodes as the admin")
