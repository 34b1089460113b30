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

Every decision of both goes through `step`, the one place that runs a controller's pure step.
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from actors.controller import Controller, Registry
from actors.decisions import Context, Decision
from actors.kind import Companion, Kind, Resource
from actors.registry import SHIPPED, build, kinds_of
from actors.routing import targets
from core import headers as H
from core.events import DeletionRequested, Event, SpecApplied, StatusUpdated
from core.names import CLUSTER_NS, Ref
from core.replicas import (
    EnsurePool,
    PoolReady,
    PoolRetired,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStopped,
    RetirePool,
    StartReplica,
    StopReplica,
)
from dataplane.sim.capacity import PoolState, refusal
from dataplane.sim.latency import ready_delay

AnyKind = Kind[Any, Any] | Companion[Any, Any]


def step(ctrl: Controller[Any], state: Any, now: float, ctx: Context) -> tuple[Any, Decision]:
    """One decision of an actor and the state once its own writes are folded (events, messages, commands,
    in the order the runtime appends them)."""
    decision = ctrl.decide(state, now, ctx)
    for event in (*decision.events, *(m.event for m in decision.messages), *(o.command for o in decision.commands)):
        state = ctrl.evolve(state, event)
    return state, decision


def context(*views: Any) -> Context:
    """The Context `decide` reads, from views resources publish (e.g. `PoolView`s), keyed by their kind."""
    by_kind: dict[str, tuple[Any, ...]] = {}
    for view in views:
        by_kind[view.ref.kind] = (*by_kind.get(view.ref.kind, ()), view)
    return Context(views=by_kind)


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
        self.ctrl: Controller[Any] = ctrl
        self.ref = ref_of(kind, where)
        self.resource: Resource[Any, Any] = ctrl.initial(self.ref)
        self.decisions: list[Decision] = []

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
            self.resource = self.ctrl.evolve(self.resource, event)
        return self

    def spec(self, spec: dict[str, Any]) -> Actor:
        """A spec applied by admission (the next generation; the first one creates the resource)."""
        first = self.resource.applied is None or self.resource.gone
        return self.given(SpecApplied(generation=self.resource.generation + 1, spec=spec, created=first))

    def delete(self) -> Actor:
        return self.given(DeletionRequested(generation=self.resource.generation))

    def decide(self, now: float = 0.0, views: Iterable[Any] = (), ctx: Context | None = None) -> Decision:
        """`decide` at `now` with the views other resources publish (or a whole Context); its writes folded."""
        self.resource, decision = step(self.ctrl, self.resource, now, ctx or context(*views))
        self.decisions.append(decision)
        return decision


class World:
    """Every actor of a registry, the host's routing rule, timers and a simulated data plane, in memory.

    Deterministic: deliveries in order, time moves only when nothing is left to deliver (to the next timer
    or the next replica becoming ready)."""

    def __init__(self, *kinds: AnyKind, latency: float = 0.0, seed: int = 0, now: float = 1_000.0) -> None:
        shipped = [k for source in SHIPPED for k in kinds_of(source)]
        self.registry: Registry = build([*shipped, *kinds])
        self.now = now
        self.latency, self.seed = latency, seed
        self.actors: dict[str, Any] = {}
        """Actor key (`Cell.key`: the resource token, suffixed for a companion) -> its Resource."""
        self.queue: deque[tuple[str, Event]] = deque()
        self.timers: list[tuple[float, str]] = []
        self.pools: dict[str, PoolState] = {}
        self.replicas: dict[str, tuple[Ref, str, int]] = {}
        """Replica id -> (its resource, pool, GPUs) while it runs in the sim."""
        self.settled: set[str] = set()
        """Replica ids that stopped or were lost: the sim never starts them again."""
        self.later: list[tuple[float, int, Ref, Event]] = []
        self.log: list[tuple[Ref, Event]] = []
        """Everything written, in order: (resource, event) — for assertions on the story."""

    # ---- intent ---------------------------------------------------------------------------------------

    def apply(self, kind: str, where: str, spec: dict[str, Any]) -> Ref:
        ref = self._ref(kind, where)
        current = self.actors.get(ref.token)
        first = current is None or current.applied is None or current.gone
        generation = 1 if current is None else current.generation + 1
        self._write(ref, SpecApplied(generation=generation, spec=spec, created=first))
        return ref

    def delete(self, kind: str, where: str) -> Ref:
        ref = self._ref(kind, where)
        current = self.actors.get(ref.token)
        self._write(ref, DeletionRequested(generation=current.generation if current is not None else 0))
        return ref

    # ---- reading ----------------------------------------------------------------------------------------

    def resource(self, kind: str, where: str) -> Any:
        return self.actors.get(self._ref(kind, where).token)

    def status(self, kind: str, where: str) -> StatusUpdated | None:
        found = self.resource(kind, where)
        return None if found is None else found.status

    def view(self, kind: str, where: str) -> Any:
        ref = self._ref(kind, where)
        ctrl = self.registry.controller_for(ref.kind)
        return None if ctrl is None or ref.token not in self.actors else ctrl.view(self.actors[ref.token])

    # ---- running ----------------------------------------------------------------------------------------

    def run(self, until: Callable[[World], bool] | None = None, max_steps: int = 100_000) -> World:
        """Deliver, decide and actuate until `until(world)` holds, or until nothing is left to do."""
        for _ in range(max_steps):
            if until is not None and until(self):
                return self
            if self.queue:
                key, event = self.queue.popleft()
                self._fold(key, event)
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
            if not isinstance(event, ReplicaReady) or event.replica in self.replicas:  # not stopped meanwhile
                self._write(ref, event)
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

    def _context(self) -> Context:
        views: list[Any] = []
        for key, state in self.actors.items():
            found = self.registry.actor_of_key(key)
            if found is not None:
                view = found[1].view(state)
                views.extend(() if view is None else (view,))
        return context(*views)

    def _fold(self, key: str, event: Event) -> None:
        found = self.registry.actor_of_key(key)
        assert found is not None, key
        ref, ctrl = found
        self.actors[key] = ctrl.evolve(self.actors.get(key) or ctrl.initial(ref), event)

    def _decide(self, key: str) -> None:
        found = self.registry.actor_of_key(key)
        assert found is not None, key
        ref, ctrl = found
        self.actors[key], decision = step(ctrl, self.actors[key], self.now, self._context())
        for event in decision.events:
            self._write(ref, event, writer=key)
        for message in decision.messages:
            self._write(message.to, message.event, writer=key, sender=ref)
        for order in decision.commands:
            self.log.append((ref, order.command))
            self._actuate(ref, order.command)
        if decision.wake_at is not None:
            heapq.heappush(self.timers, (decision.wake_at, key))

    def _write(self, owner: Ref, event: Event, writer: str = "", sender: Ref | None = None) -> None:
        """Append `event` on `owner`'s subjects: every actor the host would route it to sees it (its
        writer has folded it already)."""
        self.log.append((owner, event))
        notify = getattr(event, "notify", None)
        headers = {H.SENDER: sender.token} if sender is not None else {}
        if callable(notify):
            headers[H.NOTIFY] = notify()
        for ref in targets(owner, headers, self.registry.hosted):
            for key, ctrl in self.registry.actors_for(ref):
                if key == writer or (ctrl.wants is not None and key not in self.actors and not ctrl.wants(event)):
                    continue
                self.queue.append((key, event))

    def _actuate(self, ref: Ref, cmd: Event) -> None:
        """The sim driver's part, by its own rules (`dataplane.sim.capacity`, `dataplane.sim.latency`)."""
        pool = f"{ref.namespace}/{ref.name}"
        match cmd:
            case EnsurePool(capacity=c, generation=g):
                used = self.pools[pool].used if pool in self.pools else 0
                self.pools[pool] = PoolState(key=pool, capacity=c, used=used)
                self._write(ref, PoolReady(capacity=c, generation=g))
            case RetirePool():
                if pool in self.pools:
                    self.pools[pool] = PoolState(key=pool, capacity=0, used=0, retired=True)
                self._write(ref, PoolRetired())
            case StartReplica(replica=rid, pool=where, gpus=gpus) if rid not in (*self.replicas, *self.settled):
                why = refusal(where, self.pools.get(where), gpus)
                if why is not None:
                    self.settled.add(rid)
                    self._write(ref, ReplicaLost(replica=rid, pool=where, reason=why))
                    return
                p = self.pools[where]
                self.pools[where] = PoolState(key=where, capacity=p.capacity, used=p.used + gpus)
                self.replicas[rid] = (ref, where, gpus)
                self._write(ref, ReplicaStarted(replica=rid, pool=where))
                ready = self.now + ready_delay(self.latency, self.seed, ref.token, rid)
                heapq.heappush(self.later, (ready, len(self.log), ref, ReplicaReady(replica=rid, pool=where)))
            case StopReplica(replica=rid) if rid in self.replicas:
                _, where, gpus = self.replicas.pop(rid)
                self.settled.add(rid)
                held = self.pools.get(where)
                if held is not None and not held.retired:
                    self.pools[where] = PoolState(key=where, capacity=held.capacity, used=max(0, held.used - gpus))
                self._write(ref, ReplicaStopped(replica=rid, pool=where))
