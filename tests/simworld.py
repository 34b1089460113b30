"""A pure, in-memory interpreter of the actor protocol for unit and property tests of evolve/decide.

It plays the host's routing rules (owner + sender + notify) and a perfect data plane, one event at a
time in a chosen order, with no I/O: integration tests cover the real runtime against nats-server.
"""
from __future__ import annotations

import random
from collections import deque
from typing import Any

from actors.controller import DEFAULT, Controller
from actors.decisions import Context, Decision
from core.events import DeletionRequested, Event, SpecApplied
from core.names import Ref
from core.replicas import (
    EnsurePool,
    PoolReady,
    PoolRetired,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStopped,
    RetirePool,
    StartReplica,
    StopReplica,
)


class World:
    def __init__(self, seed: int = 0) -> None:
        self.states: dict[Ref, Any] = {}
        self.queue: deque[tuple[Ref, Event]] = deque()
        self.rng = random.Random(seed)
        self.now = 1_000.0
        self.running: dict[str, dict[str, int]] = {}  # pool key -> replica -> gpus (the "data plane")
        self.capacity: dict[str, int] = {}
        self.starts: dict[str, int] = {}
        self.decisions = 0

    def ctrl(self, ref: Ref) -> Controller[Any]:
        c = DEFAULT.controller_for(ref.kind)
        assert c is not None
        return c

    def state(self, ref: Ref) -> Any:
        if ref not in self.states:
            self.states[ref] = self.ctrl(ref).initial(ref)
        return self.states[ref]

    def context(self) -> Context:
        by_kind: dict[str, tuple[Any, ...]] = {}
        for ref, s in self.states.items():
            view = self.ctrl(ref).view(s)
            if view is not None:
                by_kind[ref.kind] = (*by_kind.get(ref.kind, ()), view)
        return Context(views=by_kind)

    def apply(self, ref: Ref, spec: dict[str, Any], generation: int, created: bool = False) -> None:
        self.queue.append((ref, SpecApplied(generation=generation, spec=spec, created=created)))

    def delete(self, ref: Ref, generation: int) -> None:
        self.queue.append((ref, DeletionRequested(generation=generation)))

    def fold(self, ref: Ref, event: Event) -> None:
        self.states[ref] = self.ctrl(ref).evolve(self.state(ref), event)

    def decide(self, ref: Ref) -> Decision:
        self.decisions += 1
        d = self.ctrl(ref).decide(self.state(ref), self.now, self.context())
        for ev in d.events:
            self.fold(ref, ev)
            notify = getattr(ev, "notify", None)
            if callable(notify):
                self.queue.append((Ref.parse(notify()), ev))
        for m in d.messages:
            self.fold(ref, m.event)  # own write, folded on ack
            self.queue.append((m.to, m.event))
        for o in d.commands:
            self.fold(ref, o.command)
            self._actuate(ref, o.command)
        return d

    def _actuate(self, ref: Ref, cmd: Event) -> None:
        """A perfect, instant data plane that checks the capacity invariant on every start."""
        match cmd:
            case EnsurePool(capacity=c, generation=g):
                self.capacity[f"{ref.namespace}/{ref.name}"] = c
                self.queue.append((ref, PoolReady(capacity=c, generation=g)))
            case RetirePool():
                self.queue.append((ref, PoolRetired()))
            case StartReplica(replica=r, pool=p, gpus=g):
                self.starts[r] = self.starts.get(r, 0) + 1
                used = sum(self.running.get(p, {}).values())
                assert used + g <= self.capacity.get(p, 0), f"pool {p} over-allocated by {r}"
                self.running.setdefault(p, {})[r] = g
                self.queue.append((ref, ReplicaStarted(replica=r, pool=p)))
                self.queue.append((ref, ReplicaReady(replica=r, pool=p)))
            case StopReplica(replica=r, pool=p):
                self.running.get(p, {}).pop(r, None)
                self.queue.append((ref, ReplicaStopped(replica=r, pool=p)))

    def run(self, max_steps: int = 100_000, shuffle: bool = False) -> None:
        """Deliver queued events (optionally in a random interleaving across resources) until quiet."""
        steps = 0
        while steps < max_steps:
            if not self.queue:
                dirty = [r for r in list(self.states) if not self.decide(r).empty]
                if not dirty:
                    self.now += 10.0  # let backoff timers fire; quiet when nobody has anything to do
                    if all(self.decide(r).empty for r in list(self.states)) and not self.queue:
                        return
                continue
            i = self.rng.randrange(len(self.queue)) if shuffle else 0
            self.queue.rotate(-i)
            ref, ev = self.queue.popleft()
            self.queue.rotate(i)
            self.fold(ref, ev)
            self.decide(ref)
            steps += 1
        raise AssertionError("world did not settle")


def pool_spec(capacity: int, region: str = "us-west-2", gpu: str = "a100") -> dict[str, Any]:
    return {"region": region, "gpu": gpu, "capacity": capacity, "namespaces": ["*"]}


def deployment_spec(replicas: int, gpus: int = 1, region: str = "us-west-2", gpu: str = "a100",
                    model: str = "llama-3-8b") -> dict[str, Any]:
    return {"model": model, "replicas": replicas, "placement": {"region": region, "gpu": gpu},
            "gpusPerReplica": gpus}
