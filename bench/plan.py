"""plan: `POST /v1/plan` latency over a live plane of N converged deployments.

A real `bosun up` tree, N deployments declared over NATS (the `burst` scenario) and Ready, then plans
of one new deployment through the HTTP API. The plan restores the controller snapshots and folds only
the tail after the oldest checkpoint, so its cost follows the tail, not N; the report shows the tail
each plan folded and how many actors it restored.

    python -m bench plan --resources 10000
"""
from __future__ import annotations

import time
from typing import Any

import httpx

from bench.burst import NS, run_burst
from bench.loop import run
from bench.plane import Plane
from bench.stats import summary_ms

CANDIDATE = {"kind": "ModelDeployment", "metadata": {"name": "planned", "namespace": NS},
             "spec": {"model": "m", "replicas": 2, "placement": {"region": "us-west-2", "gpu": "a100"}}}


def run_plan(resources: int, samples: int, timeout: float = 900.0) -> dict[str, Any]:
    with Plane() as plane:
        burst = run(run_burst(plane, resources, "nats", timeout))
        with httpx.Client(base_url=plane.url, headers={"Authorization": f"Bearer {plane.token}"},
                          timeout=300) as http:
            first, _ = _plan(http)
            settled, waited = _after_flush(http, resources)
            timings, reports = [], []
            for _ in range(samples):
                seconds, report = _plan(http)
                timings.append(seconds)
                reports.append(report)
    last = reports[-1]
    (item,) = last["items"]
    return {"resources": resources, "burst_all_ready_seconds": burst["all_ready_seconds"],
            "first_plan_seconds": round(first, 3), "snapshot_wait_seconds": round(waited, 2),
            "plan": {"samples": samples, **summary_ms(timings), "max_ms": round(max(timings) * 1000, 1)},
            "tail_messages": last["basis"]["tail"], "actors_restored": last["basis"]["actors"],
            "log_seq": last["basis"]["seq"], "decisions": last["decisions"],
            "predicted": item["predicted"]["phase"], "settled_tail": settled}


def _plan(http: httpx.Client) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    r = http.post("/v1/plan", json=[CANDIDATE])
    seconds = time.perf_counter() - t0
    r.raise_for_status()
    report: dict[str, Any] = r.json()
    return seconds, report


def _after_flush(http: httpx.Client, resources: int, timeout: float = 120.0) -> tuple[int, float]:
    """Wait until the controller's snapshots cover the burst (a plan's tail is short): (tail, seconds)."""
    t0 = time.monotonic()
    tail = -1
    while time.monotonic() - t0 < timeout:
        _, report = _plan(http)
        tail = int(report["basis"]["tail"])
        if tail < max(100, resources // 10):
            break
        time.sleep(1.0)
    return tail, time.monotonic() - t0
