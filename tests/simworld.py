"""A pure, in-memory shell around the actor kernel for unit and property tests of evolve/decide.

The kernel (`actors.kernel`) routes, folds, decides and orders the writes, as in the live host; this
shell only keeps a log (every message gets the next sequence), one mailbox per actor (its messages in
log order) and a perfect, instant data plane that checks the capacity invariant on every start. `run`
steps one actor (or appends one queued intent or observation) at a time, in FIFO order or, with
`shuffle`, in a random interleaving: any order in which concurrent actors could have taken their next
message. No I/O: integration tests cover the real runtime against nats-server.
"""
from __future__ import annotations

import random
from collections import deque
from typing import Any, NamedTuple

from actors import kernel
from actors.controller import DEFAULT, Controller, Registry
from actors.decisions import Context, Decision
from core import codec, subjects
from core import headers as H
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
    StartOnNode,
    StartReplica,
    StopReplica,
)
from core.stored import StoredMessage


class Logged(NamedTuple):
    seq: int
    subject: str
    owner: Ref
    event: Event
    headers: dict[str, str]
    time: float


class World:
    def __init__(self, seed: int = 0, registry: Registry = DEFAULT, behaviours: dict[str, int] | None = None
                 ) -> None:
        self.registry = registry
        self.behaviours = behaviours or {}
        """Kind key -> the behaviour its decide runs with here instead of today's (`Kind.behaviour`): what an
        older Bosun wrote."""
        self.actors: dict[str, kernel.Actor] = {}
        self.queue: deque[tuple[Ref, Event] | str] = deque()
        """What happens next, in order: a (resource, event) to append (an intent, an observation of the data
        plane), or an actor key (that actor takes the next message of its mailbox)."""
        self.mailboxes: dict[str, deque[Logged]] = {}
        self.log: list[Logged] = []
        self.history: list[tuple[Ref, Event]] = []
        """Every event folded into a kind's own actor, in order (delivered and own writes)."""
        self.rng = random.Random(seed)
        self.now = 1_000.0
        self.running: dict[str, dict[str, int]] = {}  # pool key -> replica -> gpus (the "data plane")
        self.capacity: dict[str, int] = {}
        self.starts: dict[str, int] = {}
        self.devices: dict[tuple[str, str], str] = {}
        """(node, device id) -> the replica using it (node pools): a device is never handed out twice."""
        self.decisions = 0
        self.wakes: dict[str, float | None] = {}
        """Actor key -> when its last decision asked to decide again (the host's timer)."""

    @property
    def states(self) -> dict[Ref, Any]:
        return {a.ref: a.state for a in self.actors.values() if not a.controller.companion}

    def ctrl(self, ref: Ref) -> Controller[Any]:
        c = self.registry.controller_for(ref.kind)
        assert c is not None
        return c

    def state(self, ref: Ref) -> Any:
        return self.actor(ref.token).state

    def actor(self, key: str) -> kernel.Actor:
        found = self.actors.get(key)
        if found is None:
            at = self.registry.actor_of_key(key)
            assert at is not None, key
            found = self.actors[key] = kernel.Actor(*at)
        return found

    def context(self, behaviour: int = 1) -> Context:
        by_kind: dict[str, tuple[Any, ...]] = {}
        for a in self.actors.values():
            view = a.controller.view(a.state) if not a.controller.companion else None
            if view is not None:
                by_kind[a.ref.kind] = (*by_kind.get(a.ref.kind, ()), view)
        return Context(views=by_kind, behaviour=behaviour)

    def apply(self, ref: Ref, spec: dict[str, Any], generation: int, created: bool = False) -> None:
        self.queue.append((ref, SpecApplied(generation=generation, spec=spec, created=created)))

    def delete(self, ref: Ref, generation: int) -> None:
        self.queue.append((ref, DeletionRequested(generation=generation)))

    def stored(self) -> list[StoredMessage]:
        """The world's log as the stream would hold it (for `analysis.replay`)."""
        return [StoredMessage(m.seq, m.subject, codec.event_headers(m.event, m.time, **m.headers),
                              codec.encode(m.event), m.time) for m in self.log]

    # ---- the log and the actors' steps ----------------------------------------------------------------

    def append(self, subject: str, owner: Ref, event: Event, headers: dict[str, str]) -> int:
        """Append to the log; the kernel routes it to the actors' mailboxes. Returns its sequence."""
        m = Logged(len(self.log) + 1, subject, owner, event, headers, self.now)
        self.log.append(m)
        refs = kernel.targets(owner, headers, self.registry.hosted)
        for key in kernel.recipients(self.registry, refs, event, self.actors.__contains__):
            self.actor(key)
            self.mailboxes.setdefault(key, deque()).append(m)
            self.queue.append(key)
        return m.seq

    def deliver(self, key: str) -> None:
        """The actor takes its next message: the kernel folds it (its own writes are seen already)."""
        actor, m = self.actor(key), self.mailboxes[key].popleft()
        folded = kernel.fold(actor, m.seq, m.subject, m.event)
        if isinstance(folded, kernel.Broken):
            raise folded.error  # a test wants to see it
        if folded is not kernel.SEEN:
            self._folded(actor, m.event)
            self.decide(actor)

    def decide(self, actor: kernel.Actor) -> Decision:
        self.decisions += 1
        ctrl = actor.controller  # the behaviour as the host hands it, or an older one asked for
        behaviour = ctrl.behaviour if ctrl.companion else self.behaviours.get(actor.ref.kind, ctrl.behaviour)
        context = self.context(behaviour)
        outcome = kernel.decide(actor, self.now, context)
        if isinstance(outcome, kernel.Failure):
            assert outcome.error is not None
            raise outcome.error
        stamp = {**kernel.stamp(actor), H.TIME: repr(self.now)}
        recorded = context.views or context.behaviour != 1
        first = {**stamp, H.CONTEXT: codec.encode_json(context).decode()} if recorded else stamp
        for i, write in enumerate(kernel.writes(actor, outcome)):
            seq = self.append(write.subject, write.owner, write.event, {**(stamp if i else first), **write.headers})
            kernel.own(actor, seq, write.subject, write.event)
            self._folded(actor, write.event)
            if write.slice == subjects.CMD:
                self._actuate(actor.ref, write.event)
        self.wakes[actor.key] = kernel.settle(actor, outcome)
        return outcome

    def _folded(self, actor: kernel.Actor, event: Event) -> None:
        if not actor.controller.companion:
            self.history.append((actor.ref, event))

    def _actuate(self, ref: Ref, cmd: Event) -> None:
        """A perfect, instant data plane that checks the capacity invariant on every start."""
        match cmd:
            case EnsurePool(capacity=c, generation=g):
                self.capacity[f"{ref.namespace}/{ref.name}"] = c
                self.queue.append((ref, PoolReady(capacity=c, generation=g)))
            case RetirePool():
                self.queue.append((ref, PoolRetired()))
            case StartOnNode(replica=r, pool=p, node=n, devices=ds):
                self.starts[r] = self.starts.get(r, 0) + 1
                for d in ds:
                    assert (n, d) not in self.devices, f"device {d} of node {n} used by {self.devices[(n, d)]} and {r}"
                    self.devices[(n, d)] = r
                self.running.setdefault(p, {})[r] = len(ds)
                self.queue.append((ref, ReplicaStarted(replica=r, pool=p, node=n, devices=ds)))
                self.queue.append((ref, ReplicaReady(replica=r, pool=p)))
            case StartReplica(replica=r, pool=p, gpus=g):
                self.starts[r] = self.starts.get(r, 0) + 1
                used = sum(self.running.get(p, {}).values())
                assert used + g <= self.capacity.get(p, 0), f"pool {p} over-allocated by {r}"
                self.running.setdefault(p, {})[r] = g
                self.queue.append((ref, ReplicaStarted(replica=r, pool=p)))
                self.queue.append((ref, ReplicaReady(replica=r, pool=p)))
            case StopReplica(replica=r, pool=p):
                self.running.get(p, {}).pop(r, None)
                self.devices = {k: v for k, v in self.devices.items() if v != r}
                self.queue.append((ref, ReplicaStopped(replica=r, pool=p)))

    def run(self, max_steps: int = 100_000, shuffle: bool = False) -> None:
        """Take steps (optionally in a random interleaving across actors) until quiet."""
        steps = 0
        while steps < max_steps:
            if not self.queue:
                dirty = [a for a in list(self.actors.values()) if not self.decide(a).empty]
                if not dirty:
                    self.now += 10.0  # let backoff timers fire; quiet when nobody has anything to do
                    if all(self.decide(a).empty for a in list(self.actors.values())) and not self.queue:
                        return
                continue
            i = self.rng.randrange(len(self.queue)) if shuffle else 0
            self.queue.rotate(-i)
            item = self.queue.popleft()
            self.queue.rotate(i)
            self._take(item)
            steps += 1
        raise AssertionError("world did not settle")

    def deliver_all(self) -> None:
        """Take the queued steps in order, and no more: unlike `run`, nobody decides without a message (as on a
        host, where only a message or the actor's own timer makes it decide)."""
        while self.queue:
            self._take(self.queue.popleft())

    def _take(self, item: tuple[Ref, Event] | str) -> None:
        if isinstance(item, str):
            self.deliver(item)  # that actor's next message, whichever of its queued turns was drawn
        else:
            ref, event = item
            subject = subjects.spec(ref) if isinstance(event, (SpecApplied, DeletionRequested)) else \
                subjects.obs(ref)
            self.append(subject, ref, event, {})


def pool_spec(capacity: int, region: str = "us-west-2", gpu: str = "a100") -> dict[str, Any]:
    return {"region": region, "gpu": gpu, "capacity": capacity, "namespaces": ["*"]}


def deployment_spec(replicas: int, gpus: int = 1, region: str = "us-west-2", gpu: str = "a100",
                    model: str = "llama-3-8b") -> dict[str, Any]:
    return {"model": model, "replicas": replicas, "placement": {"region": region, "gpu": gpu},
            "gpusPerReplica": gpus}
