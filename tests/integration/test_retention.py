"""Retention with an archive, end to end on `bosun up --retain 2s` (issue #26): under churn the stream
lets go of an old resource's creation while its history, time travel, replay and optimistic concurrency
still reach back to it; a stopped projector holds archiving back and `bosun log info` says so."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_up_support import BOSUN, Up, wait_for

RETAIN = "2s"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    plane = Up(tmp_path / "data", "--retain", RETAIN).start()
    yield plane
    plane.stop()


@pytest.fixture
def api(up: Up) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=up.url, headers={"Authorization": f"Bearer {up.token}"}, timeout=30) as c:
        yield c


def pool(name: str, capacity: int) -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": name, "namespace": "infra"},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": capacity}}


def put(api: httpx.Client, doc: dict[str, Any], if_match: int | None = None) -> httpx.Response:
    headers = {"If-Match": str(if_match)} if if_match is not None else {}
    return api.put(f"/v1/namespaces/infra/gpupools/{doc['metadata']['name']}", json=doc, headers=headers)


def log_info(api: httpx.Client) -> dict[str, Any]:
    r = api.get("/v1/log")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


class Churn:
    """Spec changes of a few pools, each followed by its controller's status: the log keeps growing."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.n = 0

    def step(self, count: int = 10) -> None:
        for _ in range(count):
            self.n += 1
            r = put(self.api, pool(f"churn-{self.n % 4}", 1 + self.n % 50))
            assert r.status_code == 202, r.text

    def until(self, check: Any, timeout: float, what: str) -> Any:
        def churned() -> Any:
            self.step()
            return check()
        return wait_for(churned, timeout, what, interval=0.2)


def bosun(up: Up, *args: str) -> str:
    done = subprocess.run([BOSUN, "--data", str(up.data), *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_an_old_resource_keeps_its_whole_history_after_its_creation_left_the_stream(up: Up,
                                                                                   api: httpx.Client) -> None:
    assert put(api, pool("churn-0", 1)).status_code == 202  # the old pool is not the log's first message
    created = put(api, pool("old", 4))
    assert created.status_code == 202, created.text
    c0 = created.json()["resourceVersion"]
    updated = put(api, pool("old", 5))
    rv = updated.json()["resourceVersion"]
    assert rv > c0

    churn = Churn(api)
    info = churn.until(lambda: (i := log_info(api))["firstSeq"] > c0 and i["purgedThrough"] >= rv and i,
                       timeout=120, what="the stream to let go of the old pool's creation")
    assert info["archive"]["firstSeq"] == 1 and info["archive"]["lastSeq"] >= rv
    assert info["retain"] == RETAIN
    # a fresh read model (a rebuild starts from the projection snapshot: it folds no archived message) ...
    summary = bosun(up, "projections", "rebuild")
    timeline = int(dict(kv.split("=") for kv in summary.split())["timeline"])
    assert timeline < log_info(api)["lastSeq"] - c0, summary  # ... so the archived history is not in it

    # ... still tells the whole story, from the archive
    history = api.get("/v1/namespaces/infra/gpupools/old/history", params={"since": 0, "limit": 1000}).json()
    first = history["items"][0]
    assert (first["seq"], first["type"], first["data"]["spec"]["capacity"]) == (c0, "spec.applied", 4)
    newest = api.get("/v1/namespaces/infra/gpupools/old/history", params={"limit": 2}).json()
    assert newest["continue"] and newest["items"][-1]["seq"] > rv
    older = api.get("/v1/namespaces/infra/gpupools/old/history",
                    params={"limit": 1000, "continue": newest["continue"]}).json()
    assert older["items"][0]["seq"] == c0 and older["continue"] is None
    assert [i["seq"] for i in older["items"] + newest["items"]] == [i["seq"] for i in history["items"]]

    # time travel into the archived range
    then = api.get("/v1/namespaces/infra/gpupools/old", params={"at": c0})
    assert then.status_code == 200 and then.json()["spec"]["capacity"] == 4
    assert api.get("/v1/namespaces/infra/gpupools/old", params={"at": c0 - 1}).status_code == 404
    listed = api.get("/v1/namespaces/infra/gpupools", params={"at": c0}).json()["items"]
    assert [o["metadata"]["name"] for o in listed] == ["churn-0", "old"]

    # today's code still makes every recorded decision, archived ones included
    assert "0 divergences" in bosun(up, "replay", "--check", "gpupool/old", "-n", "infra")
    assert "0 divergences" in bosun(up, "replay", "--check", "--all")

    # optimistic concurrency kept its meaning: the old resourceVersion is still the current one
    assert put(api, pool("old", 6), if_match=rv).status_code == 202
    stale = put(api, pool("old", 7), if_match=rv)
    assert stale.status_code == 409, stale.text


def test_a_stopped_projector_holds_archiving_back_and_log_info_says_so(up: Up, api: httpx.Client) -> None:
    churn = Churn(api)
    churn.until(lambda: log_info(api)["archive"]["lastSeq"] > 0, 120, "archiving to start")
    projector = up.pids()["projector"]
    os.kill(projector, signal.SIGSTOP)
    try:
        stopped_at = log_info(api)["lastSeq"]
        deadline = time.monotonic() + 20  # well past retention + a segment's linger + the purge grace
        while time.monotonic() < deadline:
            churn.step()
            time.sleep(0.2)
        info = log_info(api)
        assert info["archive"]["lastSeq"] <= stopped_at
        held = [h for h in info["holds"] if h["kind"] == "consumer"]
        assert [h["name"] for h in held] == ["projector"], info
        assert info["oldestUnarchived"]["seq"] <= stopped_at + 1
        assert "hold: consumer projector" in bosun(up, "log", "info")
    finally:
        os.kill(projector, signal.SIGCONT)
    churn.until(lambda: log_info(api)["archive"]["lastSeq"] > stopped_at, 120, "archiving to resume")
