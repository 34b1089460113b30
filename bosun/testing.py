"""`bosun.testing`: run a kind in memory, with no NATS, gateway or driver (pure, deterministic).

By hand: given events, when `decide` at a time, then a Decision (its own writes folded back, as the runtime
folds them once they are durable):

    nb = Actor(NOTEBOOK, "team-a/nb").spec({"image": "jupyter", "pool": "infra/p"})
    d = nb.decide(now=0.0, views=[pool_view])
    assert d.messages[0].event == CapacityRequested(request_id=1, requester=nb.ref.token, pool="infra/p", gpus=1)

Against the simulated data plane: a `World` runs every kind of a registry (the shipped ones plus yours) with
the host's routing rule, timers, and a sim that provisions pools and starts replicas under the sim driver's
own capacity rule, until nothing is left to do:

    w = World(NOTEBOOK)
    w.apply("GpuPool", "infra/p", {"region": "us-west-2", "gpu": "a100", "capacity": 1})
    w.apply("Notebook", "team-a/nb", {"image": "jupyter", "pool": "infra/p"})
    w.run()
    assert w.status("Notebook", "team-a/nb").phase == "Ready"

Both are thin shells around the actor kernel (`actors.kernel`), the very step the live host, replay and
the what-if fork run: routing, the fold (redelivery skipped by sequence), decide, the order of an actor's own
writes; the data plane is the sim driver's own rules (`dataplane.sim.rules.Plane`).
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from actors import kernel
from actors.controller import Registry
from actors.decisions import Context, Decision
from actors.kind import Companion, Kind, Resource
from actors.registry import SHIPPED, build, kinds_of
from core import subjects
from core.events import DeletionRequested, Event, SpecApplied, StatusUpdated
from core.names import CLUSTER_NS, Ref
from core.replicas import ReplicaReady
from dataplane.sim.rules import LIVE, Plane

AnyKind = Kind[Any, Any] | Companion[Any, Any]


def step(actor: kernel.Actor, now: float, ctx: Context, seqs: Iterable[int]) -> Decision:
    """One decision of an actor through the kernel, its own writes folded at the sequences `seqs` gives (as
    the runtime folds them once the log took them). A failing `decide` raises: a test wants to see it."""
    outcome = kernel.decide(actor, now, ctx)
    if isinstance(outcome, kernel.Failure):
        assert outcome.error is not None
        raise outcome.error
    for write, seq in zip(kernel.writes(actor, outcome), seqs, strict=False):
        kernel.own(actor, seq, write.subject, write.event)
    kernel.settle(actor, outcome)
    return outcome


def context(*views: Any, behaviour: int = 1) -> Context:
    """The Context `decide` reads, from views resources publish (e.g. `PoolView`s), keyed by their kind;
    `behaviour`: which of the kind's outputs (`Kind.behaviour`; the actor's own unless a test asks another)."""
    by_kind: dict[str, tuple[Any, ...]] = {}
    for view in views:
        by_kind[view.ref.kind] = (*by_kind.get(view.ref.kind, ()), view)
    return Context(views=by_kind, behaviour=behaviour)


def ref_of(kind: AnyKind, where: str) -> Ref:
    """`namespace/name` (or a cluster-scoped kind's `name`) of a kind, as a Ref."""
    info = (kind.of if isinstance(kind, Companion) else kind).info
    namespace, _, name = where.rpartition("/")
    return Ref(info.key, CLUSTER_NS if info.cluster_scoped else namespace or "default", name)


class Actor:
    """One actor of a kind driven by hand."""

    def __init__(self, kind: AnyKind, where: str) -> None:
        ctrl = kind.compiled
        assert ctrl is not None, f"{kind.name} has no actor"
        self.actor = kernel.Actor(ref_of(kind, where), ctrl)
        self.ref = self.actor.ref
        self.decisions: list[Decision] = []
        self._seq = itertools.count(1)

    @property
    def resource(self) -> Resource[Any, Any]:
        """The runtime's envelope: ref, typed spec, generation, deletion, finalizers, last status."""
        resource: Resource[Any, Any] = self.actor.state
        return resource

    @property
    def state(self) -> Any:
        """The kind's own state."""
        return self.resource.state

    @property
    def status(self) -> StatusUpdated | None:
        return self.resource.status

    def given(self, *events: Event) -> Actor:
        """Fold `events`, as delivered from the log."""
        for event in events:
            folded = kernel.fold(self.actor, next(self._seq), subjects.obs(self.ref), event)
            if isinstance(folded, kernel.Broken):
                raise folded.error
        return self

    def spec(self, spec: dict[str, Any]) -> Actor:
        """A spec applied by admission (the next generation; the first one creates the resource)."""
        first = self.resource.applied is None or self.resource.gone
        return self.given(SpecApplied(generation=self.resource.generation + 1, spec=spec, created=first))

    def delete(self) -> Actor:
        return self.given(DeletionRequested(generation=self.resource.generation))

    def decide(self, now: float = 0.0, views: Iterable[Any] = (), ctx: Context | None = None) -> Decision:
        """`decide` at `now` with the views other resources publish (or a whole Context); its writes folded."""
        decision = step(self.actor, now, ctx or context(*views, behaviour=self.actor.controller.behaviour), self._seq)
        self.decisions.append(decision)
        return decision


class World:
    """Every actor of a registry, the kernel's routing, timers and the sim's data plane, in memory.

    Deterministic: deliveries in log order, time moves only when nothing is left to deliver (to the next
    timer or the next replica becoming ready)."""

    def __init__(self, *kinds: AnyKind, latency: float = 0.0, seed: int = 0, now: float = 1_000.0) -> None:
        shipped = [k for source in SHIPPED for k in kinds_of(source)]
        self.registry: Registry = build([*shipped, *kinds])
        self.now = now
        self.plane = Plane(latency=latency, seed=seed)
        self.actors: dict[str, kernel.Actor] = {}
        """Actor key (the resource token, suffixed for a companion) -> the kernel's actor."""
        self.queue: deque[tuple[str, int, str, Event]] = deque()
        self.timers: list[tuple[float, str]] = []
        self.later: list[tuple[float, int, Ref, Event]] = []
        self.log: list[tuple[Ref, Event]] = []
        """Everything written, in order: (resource, event) — for assertions on the story."""

    # ---- intent ---------------------------------------------------------------------------------------

    def apply(self, kind: str, where: str, spec: dict[str, Any]) -> Ref:
        ref = self._ref(kind, where)
        current = self.resource(kind, where)
        first = current is None or current.applied is None or current.gone
        generation = 1 if current is None else current.generation + 1
        self._append(ref, subjects.spec(ref), SpecApplied(generation=generation, spec=spec, created=first))
        return ref

    def delete(self, kind: str, where: str) -> Ref:
        ref = self._ref(kind, where)
        current = self.resource(kind, where)
        self._append(ref, subjects.spec(ref),
                     DeletionRequested(generation=current.generation if current is not None else 0))
        return ref

    # ---- reading ----------------------------------------------------------------------------------------

    def resource(self, kind: str, where: str) -> Any:
        found = self.actors.get(self._ref(kind, where).token)
        return None if found is None else found.state

    def status(self, kind: str, where: str) -> StatusUpdated | None:
        found = self.resource(kind, where)
        return None if found is None else found.status

    @property
    def replicas(self) -> dict[str, str]:
        """Replica id -> its pool, of every replica the sim runs (starting or ready)."""
        return {rid: r.pool for (_, rid), r in self.plane.replicas.items() if r.state in LIVE}

    def view(self, kind: str, where: str) -> Any:
        found = self.actors.get(self._ref(kind, where).token)
        return None if found is None else found.controller.view(found.state)

    # ---- running ----------------------------------------------------------------------------------------

    def run(self, until: Callable[[World], bool] | None = None, max_steps: int = 100_000) -> World:
        """Deliver, decide and actuate until `until(world)` holds, or until nothing is left to do."""
        for _ in range(max_steps):
            if until is not None and until(self):
                return self
            if self.queue:
                key, seq, subject, event = self.queue.popleft()
                folded = kernel.fold(self.actors[key], seq, subject, event)
                if isinstance(folded, kernel.Broken):
                    raise folded.error
                if folded is not kernel.SEEN:
                    self._decide(key)
            elif not self._advance():
                if until is None:
                    return self
                raise AssertionError("the world went quiet before the condition held")
        raise AssertionError(f"the world did not settle in {max_steps} steps")

    def _advance(self) -> bool:
        """Move time to the next due timer or sim event; False when there is none."""
        due = [t for t in (self.timers[0][0] if self.timers else None, self.later[0][0] if self.later else None)
               if t is not None]
        if not due:
            return False
        self.now = max(self.now, min(due))
        while self.later and self.later[0][0] <= self.now:
            _, _, ref, event = heapq.heappop(self.later)
            if not isinstance(event, ReplicaReady) or self.plane.promote(ref, event.replica):
                self._append(ref, subjects.obs(ref), event)
        while self.timers and self.timers[0][0] <= self.now:
            _, key = heapq.heappop(self.timers)
            if key in self.actors:
                self._decide(key)
        return True

    def _ref(self, kind: str, where: str) -> Ref:
        info = self.registry.resolve(kind)
        assert info is not None, f"unknown kind {kind!r}"
        namespace, _, name = where.rpartition("/")
        return Ref(info.key, CLUSTER_NS if info.cluster_scoped else namespace or "default", name)

    def _context(self, behaviour: int) -> Context:
        views = (a.controller.view(a.state) for a in self.actors.values() if not a.controller.companion)
        return context(*(v for v in views if v is not None), behaviour=behaviour)

    def _decide(self, key: str) -> None:
        actor = self.actors[key]
        outcome = kernel.decide(actor, self.now, self._context(actor.controller.behaviour))
        if isinstance(outcome, kernel.Failure):
            assert outcome.error is not None
            raise outcome.error
        for write in kernel.writes(actor, outcome):
            seq = self._append(write.owner, write.subject, write.event, write.headers, writer=key)
            kernel.own(actor, seq, write.subject, write.event)
            if write.slice == subjects.CMD:
                for at, ref, event in self.plane.actuate(write.owner, write.event, self.now):
                    if at <= self.now:
                        self._append(ref, subjects.obs(ref), event)
                    else:
                        heapq.heappush(self.later, (at, len(self.log), ref, event))
        wake = kernel.settle(actor, outcome)
        if wake is not None:
            heapq.heappush(self.timers, (wake, key))

    def _append(self, owner: Ref, subject: str, event: Event, headers: Any = None, writer: str = "") -> int:
        """Append `event` on `owner`'s subject: every actor the kernel routes it to gets it in its mailbox
        (its writer has folded it already and will skip it by sequence)."""
        self.log.append((owner, event))
        seq = len(self.log)
        refs = kernel.targets(owner, headers or {}, self.registry.hosted)
        for key in kernel.recipients(self.registry, refs, event, self.actors.__contains__):
            if key != writer:
                if key not in self.actors:
                    found = self.registry.actor_of_key(key)
                    assert found is not None, key
                    self.actors[key] = kernel.Actor(*found)
                self.queue.append((key, seq, subject, event))
        return seq
