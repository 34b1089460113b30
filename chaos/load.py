"""The load generator: writers over HTTP and NATS, each the single writer of its own resources.

Why one writer per resource: its requests are then sequential, so the ledger's checker knows exactly
which final values are admissible without a model of concurrent writers (that is `linearizable`'s job).
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from chaos.door import Door
from chaos.ledger import ABSENT, Op, outcome_of

NAMESPACE = "chaos"


def pool(capacity: int) -> dict[str, Any]:
    """The one pool every chaos deployment is placed in (it admits every namespace)."""
    return {"kind": "GpuPool", "metadata": {"name": "chaos-pool", "namespace": "infra"},
            "spec": {"region": "us-west-2", "gpu": "a100", "capacity": capacity, "namespaces": ["*"]}}


POOL = pool(100_000)
"""Room for everything (the soak and durability runs measure, they do not fill pools)."""


def full_capacity(writers: int, resources: int) -> int:
    """A capacity the load runs into: each deployment wants 1-3 GPUs, two on average — this is less."""
    return max(2, writers * resources * 3 // 2)


def deployment(name: str, replicas: int, ns: str = NAMESPACE) -> dict[str, Any]:
    return {"kind": "ModelDeployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"model": "m", "replicas": replicas, "placement": {"region": "us-west-2", "gpu": "a100"}}}


@dataclass
class Load:
    door: Door
    writers: int = 4
    resources: int = 4
    """Per writer."""
    seed: int = 0
    delete_share: float = 0.15
    ledger: list[Op] = field(default_factory=list)
    believed: dict[str, int] = field(default_factory=dict)
    latencies: list[tuple[float, float]] = field(default_factory=list)
    """(time, seconds) of every acknowledged apply."""

    def names(self) -> list[str]:
        return [f"w{w}-r{i}" for w in range(self.writers) for i in range(self.resources)]

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._writer(w, stop) for w in range(self.writers)))

    async def _writer(self, w: int, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed * 1000 + w + len(self.ledger))
        mine = [f"w{w}-r{i}" for i in range(self.resources)]
        while not stop.is_set():
            await self.step(rng.choice(mine), rng)

    async def step(self, name: str, rng: random.Random) -> Op:
        """One request: create or scale (a new replica count), or delete; recorded with its answer."""
        via = rng.choice(("http", "nats"))
        current = self.believed.get(name, ABSENT)
        manifest = deployment(name, 1)
        t0 = time.monotonic()
        if current != ABSENT and rng.random() < self.delete_share:
            value, answer = ABSENT, await self.door.delete(manifest, via)
        else:
            value = rng.choice([n for n in (1, 2, 3) if n != current])
            answer = await self.door.apply(deployment(name, value), via)
        t1 = time.monotonic()
        op = Op(name, value, outcome_of(answer.status), via, t0, t1, answer.status)
        self.ledger.append(op)
        if op.outcome == "ack":
            self.believed[name] = value
            if value != ABSENT:
                self.latencies.append((t1, t1 - t0))
        elif op.outcome == "nack" and answer.status == 409:
            await asyncio.sleep(0.05)  # being deleted: give the finalizers a moment before trying again
        return op
