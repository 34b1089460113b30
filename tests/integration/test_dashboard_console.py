"""The dashboard as a console (issue #28), in a real headless Chromium against one real `bosun up` for the
module: a process-pool deployment with real replica processes, the sim examples, a stuck deployment, and
two narrow principals (an operator and a viewer).

What a user hit: raw epochs and 16-digit floats, a stuck deployment neither highlighted nor first, no search,
no replicas or pids, no logs, no actions, a timeline without a filter, a phone page 13,512 px tall. Each is
checked here as a user would see it; screenshots land under the test's tmp directory (paths printed).
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.integration.test_dashboard_support import (
    DESKTOP,
    PHONE,
    attr,
    by_testid,
    click,
    deployment,
    http,
    rows,
    rows_when,
    screenshot,
    severe_logs,
    viewport,
    visit,
    wait,
)
from tests.integration.test_up_support import BOSUN, Up, wait_for
from tests.processes import end_all, running, server_command

EXAMPLES = Path(__file__).parents[2] / "examples"
OPERATOR = "olga-operator-token-5e1f0c"
VIEWER = "vic-viewer-token-8a2d44"
TRACE_URL = "http://traces.example.test/trace/{traceId}"
NAMESPACES = ["team-a", "demo"]
POLICY = {
    "principals": [{"name": "olga", "tokenSha256": hashlib.sha256(OPERATOR.encode()).hexdigest()},
                   {"name": "vic", "tokenSha256": hashlib.sha256(VIEWER.encode()).hexdigest()}],
    "roles": [{"name": "operator", "rules": [{"verbs": ["get", "list", "watch", "apply", "delete", "history", "logs"],
                                              "kinds": ["ModelDeployment"], "namespaces": NAMESPACES}]},
              {"name": "viewer", "rules": [{"verbs": ["get", "list", "watch", "history"],
                                            "kinds": ["ModelDeployment"], "namespaces": NAMESPACES}]}],
    "bindings": [{"principal": "olga", "role": "operator"}, {"principal": "vic", "role": "viewer"}],
}
RAW_EPOCH = re.compile(r"\b1[5-9]\d{8}(\.\d+)?\b")
LONG_FLOAT = re.compile(r"\b\d+\.\d{5,}\b")
ECHO = "/v1/namespaces/demo/modeldeployments/echo"


def process_pool() -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": "local", "namespace": "infra"},
            "spec": {"region": "local", "gpu": "any", "driver": "process", "devices": ["0", "1", "2", "3"],
                     "namespaces": ["demo"], "pricePerGpuHour": 2.5}}


def echo() -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": "echo", "namespace": "demo", "labels": {"app": "echo"}},
            "spec": {"model": "tiny-echo", "replicas": 2, "placement": {"region": "local", "gpu": "any"},
                     "command": server_command(), "env": {"LOAD_RPS": "0"},
                     "readiness": {"httpGet": {"path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 3},
                     "terminationGracePeriodSeconds": 2}}


def stuck() -> dict[str, Any]:
    doc = deployment("zz-stuck", "team-a", 2, app="stuck")  # alphabetically last: only the sort puts it first
    doc["spec"]["placement"] = {"region": "mars-1", "gpu": "a100"}
    return doc


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("console")
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    before = os.environ.get("BOSUN_TRACE_URL")
    os.environ["BOSUN_TRACE_URL"] = TRACE_URL  # read once by the gateway `bosun up` starts
    try:
        running_up = Up(root / "data", "--policy", str(policy)).start()
    finally:
        if before is None:
            del os.environ["BOSUN_TRACE_URL"]
        else:
            os.environ["BOSUN_TRACE_URL"] = before
    try:
        env = {**os.environ, "BOSUN_SERVER": running_up.url, "BOSUN_TOKEN": running_up.token}
        subprocess.run([BOSUN, "apply", "-f", str(EXAMPLES)], env=env, check=True, capture_output=True, timeout=60)
        for path, doc in (("/v1/namespaces/infra/gpupools/local", process_pool()), (ECHO, echo()),
                          ("/v1/namespaces/team-a/modeldeployments/zz-stuck", stuck())):
            assert http("PUT", running_up.url + path, running_up.token, doc)[0] == 202
        wait_for(lambda: (http("GET", running_up.url + ECHO, running_up.token)[1].get("status") or {})
                 .get("readyReplicas") == 2, 60, "echo's two replica processes to be ready")
        yield running_up
    finally:
        running_up.stop()
        end_all(running_up.data)


def text_of(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.body.innerText"))


def replica_rows(driver: WebDriver) -> dict[str, dict[str, str]]:
    script = """return [...document.querySelectorAll('[data-testid=replica-row]')].map(tr => [tr.dataset.replica,
        Object.fromEntries([...tr.children].map(td => [td.dataset.label, td.textContent.trim()]))])"""
    return dict(driver.execute_script(script))


# ---- the API under the console ---------------------------------------------------------------------------


def test_replicas_and_their_logs_are_data_behind_rbac(up: Up) -> None:
    code, listed = http("GET", up.url + ECHO + "/replicas", VIEWER)
    assert code == 200, listed
    live = {r["replica"]: r for r in listed["items"] if r["state"] == "ready"}
    procs = running(up.data)
    assert set(live) == set(procs) and len(live) == 2
    for rid, r in live.items():
        assert r["pid"] == int(procs[rid]["pid"]) and str(r["port"]) == procs[rid]["BOSUN_PORT"]
        assert ",".join(r["devices"]) == procs[rid]["CUDA_VISIBLE_DEVICES"] and r["driver"] == "process"
        assert r["pool"] == "infra/local" and r["startedAt"].endswith("Z") and r["node"] == ""
    rid = sorted(live)[0]
    logs = f"{ECHO}/replicas/{rid}/logs"
    assert http("GET", up.url + logs, VIEWER)[1]["error"]["code"] == "Forbidden"  # no `logs` verb
    code, tail = http("GET", up.url + logs + "?tail=5", OPERATOR)
    assert code == 200 and any(f"port {live[rid]['port']}" in line for line in tail["lines"]), tail
    assert http("GET", up.url + logs + "?tail=0", OPERATOR)[0] == 400
    assert http("GET", up.url + f"{ECHO}/replicas/..%2F..%2Fetc/logs", OPERATOR)[0] == 404
    sim = http("GET", up.url + "/v1/namespaces/team-a/modeldeployments/chat/replicas/chat-1/logs", up.token)
    assert sim[0] == 404 and sim[1]["error"]["code"] == "NoLogs", sim
    assert http("GET", up.url + "/v1/namespaces/team-b/modeldeployments/summarize/replicas", VIEWER)[0] == 403
    code, answer = http("POST", up.url + "/v1/access/review", VIEWER, {"checks": [
        {"verb": "get", "kind": "ModelDeployment", "namespace": "demo", "name": "echo"},
        {"verb": "delete", "kind": "ModelDeployment", "namespace": "demo", "name": "echo"}]})
    assert code == 200 and answer["principal"] == "vic"
    assert [r["allowed"] for r in answer["results"]] == [True, False]
    assert "vic may not delete" in answer["results"][1]["reason"]
    assert http("POST", up.url + "/v1/access/review", VIEWER, {"checks": [{"verb": "fly", "kind": "x"}]})[0] == 400
    assert http("GET", up.url + "/v1/cost/series?namespace=team-b", VIEWER)[0] == 403  # like GET /v1/cost
    code, spend = http("GET", up.url + "/v1/cost/series?namespace=demo&points=10", VIEWER)
    assert code == 200 and len(spend["items"]) == 10 and spend["items"][-1]["gpus"] == 2
    assert spend["items"][-1]["costPerHour"] == 5.0


def test_describe_shows_the_replica_pids_an_operator_would_kill(up: Up) -> None:
    env = {**os.environ, "BOSUN_SERVER": up.url, "BOSUN_TOKEN": OPERATOR}
    out = subprocess.run([BOSUN, "describe", "md/echo", "-n", "demo"], env=env, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    table = out[out.index("\nReplicas:"):out.index("Recent events:")]
    for rid, proc in running(up.data).items():
        line = next(line for line in table.splitlines() if line.split()[:1] == [rid])
        assert line.split()[1:6] == ["ready", "-", proc["pid"], proc["BOSUN_PORT"], proc["CUDA_VISIBLE_DEVICES"]]


# ---- the overview --------------------------------------------------------------------------------------


def test_a_stuck_deployment_sorts_first_and_stands_out(up: Up, page: WebDriver) -> None:
    visit(page, up)
    found = rows_when(page, lambda r: "ModelDeployment/team-a/zz-stuck" in r and "ModelDeployment/demo/echo" in r,
                      "the stuck deployment and echo listed")
    first = page.find_element(By.CSS_SELECTOR, "[data-testid=resource-row]")  # zz-stuck, or another stuck one
    order = [attr(r, "data-name") for r in by_testid(page, "resource-row")]  # a test may have added (any order)
    assert "stuck" in attr(first, "class").split()
    assert order.index("zz-stuck") < min(order.index("echo"), order.index("chat"))
    row = found["ModelDeployment/team-a/zz-stuck"]
    assert row["Phase"] == "⚠ Pending" and row["Reason"].startswith("Unschedulable")
    healthy = page.find_element(By.CSS_SELECTOR, "[data-testid=resource-row][data-name=echo]")
    colors = [page.execute_script("return getComputedStyle(arguments[0]).backgroundColor", r) for r in (first, healthy)]
    assert colors[0] != colors[1], "a stuck row looks different"
    Select(page.find_element(By.ID, "f-sort")).select_by_value("name")
    def by_name(d: WebDriver) -> bool:  # another test may have added a stuck "aa-…" (random order)
        names = [attr(r, "data-name") for r in by_testid(d, "resource-row")]
        return names == sorted(names) and names.index("chat") < names.index("zz-stuck")

    wait(page, by_name, "sorted by name")
    assert "sort=name" in page.current_url
    Select(page.find_element(By.ID, "f-sort")).select_by_value("problems")
    wait(page, lambda d: "stuck" in attr(d.find_element(By.CSS_SELECTOR, "[data-testid=resource-row]"), "class"),
         "problems first again")
    assert severe_logs(page) == []


def test_search_finds_by_name_or_label(up: Up, page: WebDriver) -> None:
    visit(page, up)
    rows_when(page, lambda r: len(r) >= 8, "every row")
    search = by_testid(page, "search")[0]
    search.send_keys("echo")
    wait(page, lambda d: set(rows(d)) == {"ModelDeployment/demo/echo"}, "only echo (by name)")
    search.clear()
    search.send_keys("app=chat")
    wait(page, lambda d: set(rows(d)) == {"ModelDeployment/team-a/chat"}, "only chat (by label)")
    search.clear()
    search.send_keys("nothing-has-this-name")
    wait(page, lambda d: not rows(d) and "Nothing matches" in text_of(d), "an empty result that says so")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.DELETE)
    rows_when(page, lambda r: len(r) >= 8, "every row again")
    assert severe_logs(page) == []


def test_no_raw_epoch_or_long_float_on_any_page(up: Up, page: WebDriver) -> None:
    checks = [("#/", "resource-row"), ("#/cost", "cost-row"), ("#/r/ModelDeployment/demo/echo", "replica-row"),
              ("#/r/GpuPool/infra/local", "timeline-entry"), ("#/audit", "audit-row")]
    for route, hook in checks:
        visit(page, up, route)
        wait(page, lambda d, hook=hook: by_testid(d, hook), f"{route} rendered")
        if route == "#/":
            wait(page, lambda d: by_testid(d, "controller-row"), "the controller hosts (their lease expiry)")
        shown = text_of(page)
        assert not RAW_EPOCH.search(shown), f"{route} shows a raw epoch: {RAW_EPOCH.search(shown)}"
        assert not LONG_FLOAT.search(shown), f"{route} shows a long float: {LONG_FLOAT.search(shown)}"
    visit(page, up)
    host = wait(page, lambda d: by_testid(d, "controller-row"), "the controller hosts")[0]
    assert re.search(r"in \d+s|just now", host.text) and "0–" in host.text, host.text
    assert severe_logs(page) == []


def test_the_pages_formatting_rules(up: Up, page: WebDriver) -> None:
    """`js/format.js` and the search's matcher, run in this browser on a table of cases."""
    visit(page, up)
    now = time.time()
    cases = page.execute_async_script("""
        const [now, done] = arguments;
        Promise.all([import('/ui/js/format.js'), import('/ui/js/env.js')]).then(([f, env]) => {
          const obj = {kind: 'ModelDeployment', metadata: {name: 'chat', namespace: 'team-a', labels: {app: 'chat'}}};
          done({
            relative: [f.relative(now - 125, now * 1000), f.relative(now + 9.6, now * 1000),
                       f.relative(now, now * 1000),
                       f.relative('2020-01-01T00:00:00Z', Date.parse('2020-01-03T00:00:01Z'))],
            num: [f.num(0.0036136555009418066), f.num(12345.678), f.num(5), f.num(null), f.num(1e-9)],
            money: [f.money(0.009034138752354516), f.money(5), f.money(1234.5), f.money(0)],
            ranges: [f.ranges([0, 1, 2, 3, 7, 9, 10, 11]), f.ranges([4])],
            humane: [f.humane('leaseExpiresAt', now + 3.5), f.humane('lag', 0), f.humane('partitions', [0, 1, 2]),
                     f.humane('kinds', ['gpupool', 'quota']), f.humane('x', {a: 1.23456789})],
            readable: f.readable({at: 1796638408.88, cost: 0.009034138752354516, n: 3}),
            search: ['chat', 'team-a', 'app=chat', 'app=embed', 'CHAT app', 'nope'].map(q => env.matches(obj, q)),
          });
        }, e => done(String(e)));""", now)
    assert cases["relative"] == ["2m ago", "in 9s", "just now", "2d ago"]
    assert cases["num"] == ["0.0036", "12,345.68", "5", "—", "0"]
    assert cases["money"] == ["$0.009", "$5.00", "$1,234.50", "$0.00"]
    assert cases["ranges"] == ["0–3, 7, 9–11", "4"]
    assert cases["humane"] == ["in 3s", "0", "0–2", "gpupool, quota", "a=1.23"]
    assert cases["readable"]["at"].endswith("ago)") and cases["readable"]["cost"] == 0.009034
    assert cases["search"] == [True, True, True, False, True, False]
    assert severe_logs(page) == []


# ---- one deployment ---------------------------------------------------------------------------------------


def test_the_replica_table_lists_real_pids_and_follows_a_kill(up: Up, page: WebDriver) -> None:
    visit(page, up, "#/r/ModelDeployment/demo/echo")
    procs = running(up.data)
    table = wait(page, lambda d: (r if len(r := replica_rows(d)) == 2 else None), "two replica rows")
    for rid, proc in procs.items():
        assert table[rid]["PID"] == proc["pid"] and table[rid]["Port"] == proc["BOSUN_PORT"]
        assert table[rid]["Devices"] == proc["CUDA_VISIBLE_DEVICES"] and table[rid]["State"] == "ready"
        assert table[rid]["Node"] == "" and re.fullmatch(r"\d+[smhd]", table[rid]["Age"])
    victim = sorted(procs)[0]
    os.kill(int(procs[victim]["pid"]), signal.SIGKILL)  # the README's `kill -9 <pid of a replica>`
    wait(page, lambda d: all(r["State"] == "ready" and r["PID"] not in (procs[victim]["pid"],)
                             for r in replica_rows(d).values()) and len(replica_rows(d)) == 2,
         "the killed replica replaced by a new process", timeout=30)
    page.find_element(By.ID, "rp-ended").click()
    lost = wait(page, lambda d: [r for r in replica_rows(d).values() if r["State"] == "lost"], "the lost one, shown")
    assert lost[0]["PID"] == procs[victim]["pid"] and "SIGKILL" in lost[0]["Last error"]
    assert severe_logs(page) == []


def test_the_log_tail_of_a_replica(up: Up, page: WebDriver, tmp_path: Path) -> None:
    viewport(page, *PHONE)
    visit(page, up, "#/r/ModelDeployment/demo/echo", OPERATOR)
    panel = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "details.logs:not([hidden])"), "the log panel")
    panel.find_element(By.TAG_NAME, "summary").click()
    chosen = Select(by_testid(page, "log-replica")[0]).first_selected_option.get_attribute("value")
    port = replica_rows(page)[chosen]["Port"]
    wait(page, lambda d: f"serving tiny-echo on port {port}" in by_testid(d, "log-tail")[0].text,
         "the replica's own output")
    page.execute_script("arguments[0].scrollIntoView()", panel)
    print(f"\nscreenshot: {screenshot(page, tmp_path / 'phone-log-tail.png')}")
    viewport(page, *DESKTOP)
    visit(page, up, "#/r/ModelDeployment/demo/echo", VIEWER)  # no `logs` verb: no log panel at all
    wait(page, lambda d: replica_rows(d), "the replica rows for the viewer")
    wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=actions][data-ready=yes]"), "its rights known")
    assert not page.find_elements(By.CSS_SELECTOR, "details.logs:not([hidden])")
    assert severe_logs(page) == []


def test_the_timeline_filters_by_slice_and_type(up: Up, page: WebDriver) -> None:
    visit(page, up, "#/r/ModelDeployment/demo/echo")
    wait(page, lambda d: len(by_testid(d, "timeline-entry")) > 8, "echo's timeline")
    everything = len(by_testid(page, "timeline-entry"))
    form = by_testid(page, "timeline-filter")[0]
    Select(form.find_element(By.NAME, "slice")).select_by_value("obs")
    wait(page, lambda d: {attr(e, "data-slice") for e in by_testid(d, "timeline-entry")} == {"obs"}, "only obs")
    Select(form.find_element(By.NAME, "slice")).select_by_value("")
    Select(form.find_element(By.NAME, "type")).select_by_value("replica.ready")

    def only_ready(d: WebDriver) -> list[Any] | None:
        found = by_testid(d, "timeline-entry")
        return found if {attr(x, "data-type") for x in found} == {"replica.ready"} else None

    entries = wait(page, only_ready, "only replica.ready")
    assert 2 <= len(entries) < everything and f"of {everything}" in form.text
    Select(form.find_element(By.NAME, "type")).select_by_value("")
    wait(page, lambda d: len(by_testid(d, "timeline-entry")) >= everything, "everything again")
    trace = by_testid(page, "trace-link")[0]  # trace ids link to the configured trace UI
    trace_id = trace.text.strip()
    assert attr(trace, "href") == TRACE_URL.replace("{traceId}", trace_id)
    assert attr(trace, "rel") == "noopener noreferrer"
    assert wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=replicas-chart] polyline.line"),
                "the desired-vs-ready chart")
    assert severe_logs(page) == []


# ---- cost --------------------------------------------------------------------------------------------------


def test_the_cost_view_is_a_table_and_a_chart(up: Up, page: WebDriver) -> None:
    visit(page, up, "#/cost")
    row = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=cost-row][data-name=echo]"), "echo's cost")
    cells = {attr(td, "data-label"): td.text for td in row.find_elements(By.TAG_NAME, "td")}
    assert cells["Namespace"] == "demo" and cells["Spend rate"] == "$5.00/h" and cells["GPUs"] == "2", cells
    assert re.fullmatch(r"\$\d+\.\d{2,4}", cells["Cost"]), cells
    assert re.fullmatch(r"\d+(\.\d{1,4})?", cells["GPU-hours"]), cells
    assert {attr(r, "data-namespace") for r in by_testid(page, "cost-row")} >= {"demo", "team-a", "team-b"}
    assert wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=spend-chart] polyline.line"),
                "the spend-over-time chart")
    assert by_testid(page, "cost-rate")[0].text.endswith("/h")
    assert severe_logs(page) == []


# ---- actions -------------------------------------------------------------------------------------------------


def test_actions_are_offered_by_rbac_and_done_after_confirmation(up: Up, page: WebDriver, tmp_path: Path) -> None:
    chat = "#/r/ModelDeployment/team-a/chat"
    visit(page, up, chat, VIEWER)
    bar = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=actions][data-ready=yes]"), "vic's rights")
    assert bar.find_elements(By.CSS_SELECTOR, "[data-action]") == [], "a viewer is offered nothing"

    visit(page, up, chat, OPERATOR)
    bar = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid=actions][data-ready=yes]"),
               "olga's rights")
    offered = {attr(b, "data-action") for b in bar.find_elements(By.CSS_SELECTOR, "[data-action]") if b.is_displayed()}
    assert offered == {"scale", "delete"}  # retry only once something is wrong
    before = http("GET", up.url + "/v1/namespaces/team-a/modeldeployments/chat", up.token)[1]
    bar.find_element(By.CSS_SELECTOR, "[data-action=scale]").click()
    to = wait(page, lambda d: by_testid(d, "scale-to")[0], "the scale dialog")
    to.clear()
    to.send_keys("3")
    by_testid(page, "cancel")[0].click()  # cancelled: nothing is written
    wait(page, lambda d: not d.find_element(By.CSS_SELECTOR, "dialog.confirm").get_attribute("open"), "closed")
    assert http("GET", up.url + "/v1/namespaces/team-a/modeldeployments/chat", up.token)[1]["metadata"] == \
        before["metadata"]
    bar.find_element(By.CSS_SELECTOR, "[data-action=scale]").click()
    to = wait(page, lambda d: by_testid(d, "scale-to")[0], "the scale dialog again")
    to.clear()
    to.send_keys("3")
    print(f"\nscreenshot: {screenshot(page, tmp_path / 'desktop-scale-dialog.png')}")
    by_testid(page, "confirm")[0].click()
    wait_for(lambda: http("GET", up.url + "/v1/namespaces/team-a/modeldeployments/chat", up.token)[1].get("spec", {})
             .get("replicas") == 3, 10, "chat scaled to 3 through the page")
    wait(page, lambda d: '"replicas": 3' in by_testid(d, "spec")[0].text, "the page follows")

    # scaling a deployment whose command someone else set needs `apply`, not `exec` (olga has no `exec`)
    held = "/v1/namespaces/demo/modeldeployments/held"
    doc = {**echo(), "metadata": {"name": "held", "namespace": "demo"}}
    doc["spec"] = {**doc["spec"], "replicas": 0, "placement": {"region": "nowhere-1", "gpu": "any"}}
    assert http("PUT", up.url + held, up.token, doc)[0] == 202
    visit(page, up, "#/r/ModelDeployment/demo/held", OPERATOR)
    click(page, "[data-testid=actions][data-ready=yes] [data-action=scale]", "scale offered for held")
    to = wait(page, lambda d: by_testid(d, "scale-to")[0], "the scale dialog for held")
    to.clear()
    to.send_keys("1")
    by_testid(page, "confirm")[0].click()
    wait_for(lambda: http("GET", up.url + held, up.token)[1].get("spec", {}).get("replicas") == 1, 10,
             "held scaled to 1 through the page, by a principal without exec")
    assert http("GET", up.url + held, up.token)[1]["spec"]["command"] == doc["spec"]["command"]
    changed = {**doc, "spec": {**doc["spec"], "replicas": 1, "command": ["/bin/true"]}}
    refused = http("PUT", up.url + held, OPERATOR, changed)
    assert refused[0] == 403 and "exec" in refused[1]["error"]["message"], refused  # changing what runs does
    assert http("DELETE", up.url + held, up.token)[0] == 202  # stuck rows are the other tests' business
    wait_for(lambda: http("GET", up.url + held, up.token)[0] == 404, 20, "held deleted")

    visit(page, up, "#/r/ModelDeployment/team-a/zz-stuck", OPERATOR)  # not Ready: retry is offered too
    click(page, "[data-action=retry]:not([hidden])", "retry offered")
    click(page, "[data-testid=confirm]", "the retry dialog")
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=timeline-entry][data-type='retry.requested']"),
         "the retry in the timeline")

    assert http("PUT", up.url + "/v1/namespaces/team-a/modeldeployments/doomed", up.token,
                deployment("doomed", "team-a", 1))[0] == 202
    visit(page, up, "#/r/ModelDeployment/team-a/doomed", OPERATOR)
    click(page, "[data-action=delete]", "delete offered")
    typed = wait(page, lambda d: by_testid(d, "delete-name")[0], "the delete dialog")
    typed.send_keys("wrong")
    by_testid(page, "confirm")[0].click()
    wait(page, lambda d: "Type doomed exactly" in d.find_element(By.CSS_SELECTOR, "dialog.confirm").text, "refused")
    typed.clear()
    typed.send_keys("doomed")
    by_testid(page, "confirm")[0].click()
    wait_for(lambda: http("GET", up.url + "/v1/namespaces/team-a/modeldeployments/doomed", up.token)[0] == 404,
             20, "doomed deleted through the page")
    wait(page, lambda d: "NotFound" in d.find_element(By.CSS_SELECTOR, "main [role=alert].error").text,
         "the page says it is gone", timeout=20)
    assert severe_logs(page, ("404 (Not Found)",)) == []


# ---- sizes ---------------------------------------------------------------------------------------------------


def test_phone_and_desktop_layouts_fit(up: Up, page: WebDriver, tmp_path: Path) -> None:
    shots = []
    heights = {}
    resources = 0
    kinds = http("GET", up.url + "/ui/kinds.json", up.token)[1]["items"]
    listed = sum(len(http("GET", f"{up.url}/v1/{k['plural']}", up.token)[1]["items"]) for k in kinds)
    for width, height in (PHONE, DESKTOP):
        viewport(page, width, height)
        for route, hook in (("#/", "resource-row"), ("#/r/ModelDeployment/demo/echo", "replica-row"),
                            ("#/cost", "cost-row"), ("#/r/ModelDeployment/team-a/chat", "timeline-entry")):
            visit(page, up, route)
            wait(page, lambda d, hook=hook: by_testid(d, hook), f"{route} at {width}px")
            if hook == "resource-row":
                wait(page, lambda d: by_testid(d, "controller-row"), "the controller hosts")
                resources = len(rows_when(page, lambda r: len(r) == listed, f"all {listed} resources"))
            overflow = page.execute_script("return document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{route} scrolls sideways at {width}px"
            heights[(width, route)] = page.execute_script("return document.documentElement.scrollHeight")
            name = f"{'phone' if width == PHONE[0] else 'desktop'}-{route.strip('#/').replace('/', '-') or 'env'}.png"
            page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": min(heights[(width, route)], 4000), "deviceScaleFactor": 1,
                "mobile": width < 700})
            shots.append(screenshot(page, tmp_path / name))
            viewport(page, width, height)
    viewport(page, *DESKTOP)
    print("\npage heights:", heights, "\nscreenshots:", *shots, sep="\n  ")
    assert heights[(PHONE[0], "#/")] < 3000, heights
    assert heights[(PHONE[0], "#/")] < 700 + 110 * resources, "a resource card at phone width stays compact"
    assert heights[(PHONE[0], "#/r/ModelDeployment/team-a/chat")] < 5000, heights
    assert severe_logs(page) == []


def test_a_new_stuck_deployment_jumps_to_the_top(up: Up, page: WebDriver) -> None:
    """The overview stays live with the new sorting and search: a new stuck deployment jumps to the top."""
    visit(page, up)
    rows_when(page, lambda r: "ModelDeployment/team-a/zz-stuck" in r, "the list")
    doc = deployment("aa-also-stuck", "demo", 1)
    doc["spec"]["placement"] = {"region": "venus-1", "gpu": "a100"}
    assert http("PUT", up.url + "/v1/namespaces/demo/modeldeployments/aa-also-stuck", up.token, doc)[0] == 202
    applied = time.monotonic()
    top = {"aa-also-stuck", "zz-stuck"}
    wait(page, lambda d: {attr(r, "data-name") for r in by_testid(d, "resource-row")[:2]} == top,
         "both stuck deployments on top", timeout=10)
    print(f"\nstuck deployment on top {time.monotonic() - applied:.2f}s after the apply was accepted")
    assert severe_logs(page) == []
