"""`chaos.verify.converge` does not return while a deployment waits on a pool that has been freed since.

The cluster chaos test's "projection ≠ rebuild after a nats node kill" came back after the stale-read fix
(`test_stale_reads.py`). Its log (kept from a failing run) showed a projection equal to a rebuild through
the same sequence: what differed was a deployment that moved AFTER `converge` returned. It waited for
capacity ("chaos-pool: 0 free", seq 181); a deletion then freed the pool (seq 205, "4 of 4 GPU free"); the
read model caught up with the deployment still showing its old reason, which `converge` took for a steady
state; 0.4 s later the deployment's requeue timer fired and it scaled up (seq 210-228) — after the live
listing, before the comparison with the rebuild. The node kill only made the timing likely.

The moment between the pool's release and the deployment's next look is made to last here: the
controller's appends are written by hand, the last one held back. A real gateway and projector serve the
read model `converge` reads, over a real NATS.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chaos import verify
from chaos.door import Door
from core import log as corelog
from core import subjects
from core.events import Condition, SpecApplied, StatusUpdated
from core.names import Ref
from gateway.http.app import create_app
from tests.integration.test_gateway_support import AUTH, Env, live  # noqa: F401

POOL = Ref("gpupool", "infra", "chaos-pool")
DEPLOYMENT = Ref("modeldeployment", "chaos", "w0-r1")
WAIT = 1.5
"""How long `converge` is given where it must NOT return: nothing moves while it waits (no controller)."""


@pytest.fixture
async def door(live: Env) -> AsyncIterator[Door]:
    """The chaos suite's door onto the in-process gateway (HTTP only: `converge` reads, never writes)."""
    d = Door("http://gateway.test", "nats://unused", "unused")
    await d.http.aclose()
    d.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(live.gw)), base_url="http://gateway.test",
                               headers=AUTH)
    try:
        yield d
    finally:
        await d.http.aclose()


async def pool_status(log: corelog.Log, free: int, capacity: int = 4) -> None:
    cond = Condition(type="Ready", status="True", reason="Provisioned", message=f"{free} of {capacity} GPU free")
    fields = {"capacity": capacity, "allocatedGpus": capacity - free, "freeGpus": free}
    await log.append(subjects.ctl(POOL, "pools"), StatusUpdated(observed_generation=1, phase="Ready",
                                                                conditions=(cond,), fields=fields))


async def waiting(log: corelog.Log, free: int) -> None:
    why = f"insufficient capacity for 3 more replica(s) of 1 a100 GPU in us-west-2 (chaos-pool: {free} free)"
    conditions = (Condition(type="Ready", status="False", reason="Unschedulable", message=why),
                  Condition(type="Scheduled", status="False", reason="InsufficientCapacity", message=why))
    await log.append(subjects.ctl(DEPLOYMENT, "deployments"), StatusUpdated(
        observed_generation=1, phase="Pending", conditions=conditions, fields=_fields(0)))


async def ready(log: corelog.Log) -> None:
    conditions = (Condition(type="Ready", status="True", reason="Converged", message="3/3 replicas ready"),
                  Condition(type="Scheduled", status="True", reason="Placed", message="1 pool(s)"))
    await log.append(subjects.ctl(DEPLOYMENT, "deployments"), StatusUpdated(
        observed_generation=1, phase="Ready", conditions=conditions, fields=_fields(3)))


def _fields(placed: int) -> dict[str, Any]:
    by_pool = {"infra/chaos-pool": placed} if placed else {}
    return {"desiredReplicas": 3, "readyReplicas": placed, "replicasByPool": by_pool, "gpusByPool": by_pool}


async def specs(log: corelog.Log) -> None:
    await log.append(subjects.spec(POOL), SpecApplied(generation=1, created=True, spec={
        "region": "us-west-2", "gpu": "a100", "capacity": 4}))
    await log.append(subjects.spec(DEPLOYMENT), SpecApplied(generation=1, created=True, spec={
        "model": "m", "replicas": 3, "placement": {"region": "us-west-2", "gpu": "a100"}}))


async def test_a_wait_on_a_full_pool_is_converged(live: Env, door: Door) -> None:
    await specs(live.log)
    await pool_status(live.log, free=0)
    await waiting(live.log, free=0)
    seconds, values = await verify.converge(door, timeout=30, ns="chaos")
    assert seconds is not None and values == {"w0-r1": 3}, "a full pool is a steady state"


async def test_a_wait_on_a_pool_freed_since_is_not_converged(live: Env, door: Door) -> None:
    await specs(live.log)
    await pool_status(live.log, free=0)
    await waiting(live.log, free=0)
    await pool_status(live.log, free=4)  # the release; the deployment's next look is held back
    seconds, _ = await verify.converge(door, timeout=WAIT, ns="chaos")
    assert seconds is None, "converged while the deployment was about to scale up into the freed pool"
    await ready(live.log)  # its next look: placed, all ready
    seconds, _ = await verify.converge(door, timeout=30, ns="chaos")
    assert seconds is not None
    assert await verify.rebuild_matches(door, ns="chaos") == []
