"""nodeloss: simulated nodes that hold replicas die at once; time until every affected deployment is Ready
again with no replica on a lost node.

A real `bosun up --sim-nodes N` (`--node-timeout`, `--eviction-timeout`), a pool made of its nodes and
deployments spread over them (`spread: node`). The nodes holding the most replicas are stopped behind
Bosun's back (`bosun sim node stop`: the machine's death, no more heartbeats, its replicas gone). The node
lifecycle controller finds them NotReady after the node timeout, declares their replicas lost (`NodeLost`)
after the eviction timeout, and their deployments replace them on the other nodes. Figures: loss -> every
lost node NotReady; loss -> every affected deployment Ready with all its replicas and none on a lost node;
that time minus (node timeout + eviction timeout): the seconds the replacement itself took. Both timeouts
run from the last beat's arrival, which came up to one heartbeat interval (2 s) before the loss: a figure
can be up to 2 s early (negative).
A tree without eviction (`bosun up` has no `--eviction-timeout`) is measured up to NotReady only.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.burst import NODE_POOL, NS, declare_nats, start_watch, wait_pool
from bench.plane import Plane
from bench.stats import summary_ms
from dataplane.sim import nodeworld

POLL = 0.25


def has_eviction() -> bool:
    """Whether this tree's `bosun up` evicts lost nodes' replicas (takes `--eviction-timeout`)."""
    bosun = str(Path(sys.executable).parent / "bosun")
    out = subprocess.run([bosun, "up", "--help"], capture_output=True, text=True, check=False).stdout
    return "--eviction-timeout" in out


def plane_args(nodes: int, gpus: int, node_timeout: float, eviction: float | None) -> tuple[str, ...]:
    return ("--sim-nodes", str(nodes), "--sim-node-gpus", str(gpus), "--node-timeout", f"{node_timeout:g}",
            *(("--eviction-timeout", f"{eviction:g}") if eviction is not None else ()))


async def run_nodeloss(plane: Plane, *, nodes: int, gpus: int, deployments: int, replicas: int, lose: int,
                       node_timeout: float, eviction: float | None, timeout: float) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {plane.token}"}
    async with httpx.AsyncClient(base_url=plane.url, headers=auth, timeout=30) as http:
        (await http.put("/v1/namespaces/infra/gpupools/bench-nodes", json=NODE_POOL)).raise_for_status()
        nodes_s = await wait_pool(plane, nodes * gpus)
        t0 = time.monotonic()
        ready: dict[str, float] = {}
        declared: dict[str, float] = {}
        _, watcher = await start_watch(plane, deployments, ready, timeout)
        await declare_nats(plane, deployments, declared, nodes=True, replicas=replicas)
        await watcher
        deploy_s = time.monotonic() - t0

        held = nodeworld.summary(plane.data)
        lost = sorted((n for n, row in held.items() if row["replicas"]),
                      key=lambda n: (-int(str(held[n]["replicas"])), n))[:lose]
        before = await _deployments(http)
        affected = {name for name, st in before.items() if any((st.get("replicasByNode") or {}).get(n) for n in lost)}
        lost_replicas = sum(int(str(held[n]["replicas"])) for n in lost)

        t_loss = time.monotonic()
        nodeworld.set_stopped(plane.data, lost, True)
        deadline = t_loss + node_timeout + (eviction or 0.0) + timeout
        notready_at, recovered_at = await _follow(http, lost, affected, replicas, eviction is not None, deadline)
    notready_s = max(notready_at.values(), default=float("nan")) - t_loss
    result: dict[str, Any] = {
        "nodes": nodes, "gpus_per_node": gpus, "deployments": deployments, "replicas_each": replicas,
        "lost_nodes": len(lost), "lost_replicas": lost_replicas, "affected_deployments": len(affected),
        "node_timeout": node_timeout, "eviction_timeout": eviction,
        "phases": {"nodes_ready_seconds": round(nodes_s, 3), "deploy_all_ready_seconds": round(deploy_s, 3)},
        "not_ready_seconds": round(notready_s, 3), "not_ready_nodes": len(notready_at),
        "not_ready_after_timeout_seconds": round(notready_s - node_timeout, 3),
    }
    if eviction is None:
        result["recovered"] = "not measured: this tree does not evict a lost node's replicas (no --eviction-timeout)"
        return result
    recovered = [t - t_loss for t in recovered_at.values()]
    all_s = max(recovered, default=float("nan"))
    result.update({
        "recovered_deployments": len(recovered_at),
        "all_recovered_seconds": round(all_s, 3),
        "after_timeouts_seconds": round(all_s - node_timeout - eviction, 3),
        "recovered_ms": summary_ms(recovered),
    })
    if len(recovered_at) < len(affected):
        result["error"] = f"only {len(recovered_at)}/{len(affected)} affected deployments recovered in time"
    return result


async def _follow(http: httpx.AsyncClient, lost: list[str], affected: set[str], replicas: int, evicts: bool,
                  deadline: float) -> tuple[dict[str, float], dict[str, float]]:
    """When each lost node was first seen NotReady, and each affected deployment recovered (`evicts`)."""
    notready_at: dict[str, float] = {}
    recovered_at: dict[str, float] = {}
    while time.monotonic() < deadline:
        now = time.monotonic()
        for node in await _not_ready(http, lost):
            notready_at.setdefault(node, now)
        if evicts:
            for name, st in (await _deployments(http)).items():
                if name in affected and name not in recovered_at and _recovered(st, replicas, lost):
                    recovered_at[name] = now
        if len(notready_at) == len(lost) and (not evicts or len(recovered_at) == len(affected)):
            break
        await asyncio.sleep(POLL)
    return notready_at, recovered_at


def _recovered(st: dict[str, Any], replicas: int, lost: list[str]) -> bool:
    by_node = st.get("replicasByNode") or {}
    return (st.get("phase") == "Ready" and st.get("readyReplicas") == replicas
            and not any(by_node.get(n) for n in lost))


async def _deployments(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        r = await http.get(f"/v1/namespaces/{NS}/modeldeployments",
                           params={"limit": 1000, **({"continue": token} if token else {})})
        r.raise_for_status()
        body = r.json()
        for item in body.get("items") or []:
            out[item["metadata"]["name"]] = item.get("status") or {}
        token = body.get("continue")
        if not token:
            return out


async def _not_ready(http: httpx.AsyncClient, names: list[str]) -> list[str]:
    out = []
    for name in names:
        r = await http.get(f"/v1/namespaces/_cluster/nodes/{name}")
        if r.status_code == 200 and (r.json().get("status") or {}).get("phase") == "NotReady":
            out.append(name)
    return out
