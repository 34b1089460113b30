"""kill -9 at any instant: the whole `bosun up` tree, or one component, in the middle of a burst of applies.

The pool runs full (the burst asks up to 3x its capacity) and shrinks mid-burst. After a restart on the same
data dir every accepted intent converges as far as capacity allows, and both truths agree nothing went
wrong: the control plane's, from the log (`chaos.asked`: no grant over capacity, no start beyond a grant, no
replica asked or delivered twice), and the data plane's own (the sim driver's durable world).
"""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chaos.verify import free_gpus, promises, settled
from dataplane.sim.store import world_summary
from tests.integration.test_up_support import Up, http_get, wait_for


def pool(capacity: int) -> dict[str, Any]:
    return {"kind": "GpuPool", "metadata": {"name": "pool-a", "namespace": "infra"},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": capacity, "namespaces": ["*"]}}


POOL = pool(40)
"""Full long before a burst of N deployments (1, then 2 replicas each) is accepted."""
SHRUNK = pool(30)


def put(url: str, token: str, manifest: dict[str, Any]) -> tuple[int, Any]:
    md = manifest["metadata"]
    req = urllib.request.Request(
        f"{url}/v1/namespaces/{md['namespace']}/{manifest['kind'].lower()}s/{md['name']}",
        data=json.dumps(manifest).encode(), method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": "burst"},
            "spec": {"model": "m", "replicas": replicas, "placement": {"region": "us-west-2", "gpu": "a100"}}}


class Burst(threading.Thread):
    """Applies deployments as fast as it can; remembers which intents were accepted (202) and at what generation."""

    def __init__(self, url: str, token: str, count: int) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.count = url, token, count
        self.accepted: dict[str, int] = {}
        self.answers: list[tuple[str, str, float]] = []
        """(name, the answer or the error, seconds it took) of every apply: the message of a stalled burst."""
        self.done = threading.Event()

    def run(self) -> None:
        for i in range(self.count):
            for replicas in (1, 2):  # create, then scale: two intents per resource
                began = time.monotonic()
                try:
                    code, body = put(self.url, self.token, deployment(f"d{i}", replicas))
                except (OSError, http.client.HTTPException) as e:
                    # the gateway died mid-request or mid-response: not known to be accepted
                    self.answers.append((f"d{i}", repr(e), round(time.monotonic() - began, 2)))
                    continue
                self.answers.append((f"d{i}", str(code), round(time.monotonic() - began, 2)))
                if code == 202:
                    self.accepted[f"d{i}"] = body["generation"]
        self.done.set()


class NotYet(str):
    """Falsy, and says why: what `wait_for` reports when a convergence times out."""

    def __bool__(self) -> bool:
        return False


def converged(up: Up, accepted: dict[str, int]) -> bool | NotYet:
    """Every accepted intent at (or past) its generation and as far as capacity allows (`verify.settled`:
    Ready, or waiting for capacity with every placed replica ready while the pools, as they show now, are full)."""
    objs = []
    for name, generation in accepted.items():
        code, obj = http_get(f"{up.url}/v1/namespaces/burst/modeldeployments/{name}", up.token)
        if code != 200 or obj["metadata"]["generation"] < generation:
            return NotYet(f"{name}: HTTP {code}, generation {obj['metadata']['generation'] if code == 200 else '-'}"
                          f" < {generation}")
        objs.append(obj)
    code, listed = http_get(f"{up.url}/v1/gpupools?limit=1000", up.token)  # after: a release since is seen
    if code != 200:
        return NotYet(f"pools: HTTP {code}")
    free = free_gpus(listed["items"])
    waiting = [o for o in objs if not settled(o, free)]
    return True if not waiting else NotYet(f"pools free {free}; not settled: " + "; ".join(
        f"{o['metadata']['name']} {json.dumps(o.get('status'))[:600]}" for o in waiting[:3]))


def assert_data_plane_sane(data: Path) -> None:
    summary = world_summary(data)
    assert summary["double_started"] == [], summary["double_started"]
    assert summary["overallocated"] == [], summary["pools"]


def assert_control_plane_sane(data: Path, url: str | None = None, full: bool = True) -> None:
    """What the control plane asked, from the log: within capacity, each replica asked and delivered once;
    `full`: the pool was filled at least to its shrunk size."""
    allocation, actuation = asyncio.run(promises(data, url))
    summary = world_summary(data)
    assert allocation.ok, allocation.violations[:20]
    assert not full or allocation.peak["infra/pool-a"][0] >= SHRUNK["spec"]["capacity"], allocation.peak
    assert actuation.ok and actuation.commands > 0, (actuation, allocation.grants, len(summary["starts"]))


def test_kill9_of_the_whole_tree_mid_burst_then_restart_converges(tmp_path: Path) -> None:
    data = tmp_path / "data"
    up = Up(data).start()
    try:
        assert put(up.url, up.token, POOL)[0] == 202
        burst = Burst(up.url, up.token, 60)
        burst.start()
        wait_for(lambda: len(burst.accepted) >= 10, 60, "10 accepted intents")
        assert put(up.url, up.token, SHRUNK)[0] == 202
        # 16 names: the first 15 were scaled to 2 replicas, so what is accepted outgrows the shrunk pool (31 > 30)
        # — with 15, the kill sometimes beat the 15th scale-up: 29 GPUs asked, a pool that could not run full
        wait_for(lambda: len(burst.accepted) >= 16, 60, "16 accepted intents")
        pids = up.pids()
        assert up.proc is not None
        for pid in [up.proc.pid, *pids.values()]:  # everything at the same instant
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        up.proc.wait()
        burst.join(60)
        assert burst.accepted, "nothing was accepted before the crash"
        up = Up(data).start()
        wait_for(lambda: converged(up, burst.accepted), 90, "every accepted intent to converge")
        assert_data_plane_sane(data)
        assert_control_plane_sane(data)
    finally:
        up.stop()


def test_kill9_of_each_component_mid_burst_converges(tmp_path: Path) -> None:
    data = tmp_path / "data"
    up = Up(data).start()
    try:
        assert put(up.url, up.token, POOL)[0] == 202
        burst = Burst(up.url, up.token, 40)
        burst.start()
        for component in ("controller", "driver-sim", "projector"):
            before = len(burst.accepted)
            wait_for(lambda before=before: len(burst.accepted) > before + 3 or burst.done.is_set(), 60, "more intents")
            os.kill(up.pids()[component], signal.SIGKILL)
            if component == "driver-sim":
                assert put(up.url, up.token, SHRUNK)[0] == 202
        burst.join(60)
        wait_for(lambda: converged(up, burst.accepted), 90, "every accepted intent to converge")
        assert_data_plane_sane(data)
        assert_control_plane_sane(data)
    finally:
        up.stop()
