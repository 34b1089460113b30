"""Run intents on a fork of given states and say what would happen: the pure half of `bosun plan`.

The data plane starts as the actors' states describe it (pools from the views pools publish, replicas
from the actors that hold them); replicas still starting become ready after the sim's seeded latency.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import msgspec

from actors.capacity import PoolView
from analysis.whatif import outcome
from analysis.whatif.fork import HORIZON, Fork, Result
from analysis.whatif.registry import controller_for
from core.events import Event
from core.names import Ref
from core.replicas import ReplicaReady, ReplicaStarted
from dataplane.sim.rules import Plane, pool_key, ready_delay


class Intent(NamedTuple):
    ref: Ref
    event: Event
    """SpecApplied or DeletionRequested, exactly as admission would append it."""


class Simulated(NamedTuple):
    result: Result
    before: dict[Ref, Any]
    after: dict[Ref, Any]
    companions: Mapping[tuple[Ref, str], Any] = MappingProxyType({})
    """Companion actors' states at the end (the autoscalers')."""


class Settings(msgspec.Struct, frozen=True, rename="camel"):
    """The simulated data plane's knobs: the sim driver's defaults unless the caller knows better."""

    latency: float = 0.05
    seed: int = 0
    horizon: float = HORIZON


DEFAULTS = Settings()


def simulate(states: dict[Ref, Any], timers: dict[Ref, float], start: float, first_seq: int,
             intents: list[Intent], settings: Settings | None = None, *,
             companions: dict[tuple[Ref, str], Any] | None = None,
             companion_timers: dict[tuple[Ref, str], float] | None = None) -> Simulated:
    """Run the fork to quiescence; `companions` are the companion actors' states (the autoscaler's), so
    a plan includes what they would decide (an autoscaler's recommendation at the current load)."""
    settings = settings or DEFAULTS
    before = dict(states)
    plane, pending = seed_plane(states, settings, start)
    fork = Fork(states, plane, start, timers, first_seq, companions, companion_timers)
    for ref, event, at in pending:
        fork.observe(ref, event, at)
    for intent in intents:
        fork.intend(intent.ref, intent.event)
    result = fork.run(horizon=settings.horizon)
    return Simulated(result, before, fork.states(), fork.companion_states())


def seed_plane(states: dict[Ref, Any], settings: Settings, start: float = 0.0
               ) -> tuple[Plane, list[tuple[Ref, Event, float]]]:
    """The data plane the actors believe in, and the observations still to come for replicas in flight."""
    plane = Plane(latency=settings.latency, seed=settings.seed)
    for ref, state in sorted(states.items()):
        ctrl = controller_for(ref.kind)
        view = ctrl.view(state) if ctrl is not None else None
        if isinstance(view, PoolView):
            plane.add_pool(pool_key(ref), view.capacity)
    pending: list[tuple[Ref, Event, float]] = []
    for ref, state in sorted(states.items()):
        for replica in _replicas(state):
            rid, pool, gpus, phase = replica
            plane.add_replica(ref, rid, pool, gpus, ready=phase == "ready")
            if phase == "requested":
                pending.append((ref, ReplicaStarted(replica=rid, pool=pool), start))
            if phase != "ready":
                at = start + ready_delay(settings.latency, settings.seed, ref.token, rid)
                pending.append((ref, ReplicaReady(replica=rid, pool=pool), at))
    return plane, pending


def _replicas(state: Any) -> list[tuple[str, str, int, str]]:
    """(id, pool, gpus, phase) of the live replicas an actor's state holds (`state.replicas`, if any)."""
    held = getattr(state, "replicas", None)
    if not isinstance(held, dict):
        return []
    out = []
    for r in held.values():
        rid, pool, gpus = getattr(r, "id", None), getattr(r, "pool", None), getattr(r, "gpus", None)
        if getattr(r, "stopping", False):
            continue
        if isinstance(rid, str) and isinstance(pool, str) and isinstance(gpus, int):
            out.append((rid, pool, gpus, str(getattr(r, "phase", "ready"))))
    return out


class ResourcePlan(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    kind: str
    namespace: str
    name: str
    action: str
    """create | update | unchanged | delete | refused | invalid"""
    predicted: outcome.Predicted | None = None
    """None for what was never applied on the fork (invalid, refused, unchanged without an actor)."""
    cost_per_hour_before: float | None = None
    cost_per_hour_after: float | None = None
    """GPU spend of this resource in priced pools (`pricePerGpuHour`); None when no pool has a price."""
    timeline: list[outcome.Step] = []
    diff: list[Any] = []
    error: Any = None


def resource_plan(ref: Ref, kind: str, action: str, sim: Simulated, diff: list[Any] | None = None,
                  error: Any = None) -> ResourcePlan:
    state = sim.after.get(ref)
    return ResourcePlan(kind=kind, namespace=ref.namespace, name=ref.name, action=action,
                        predicted=outcome.predicted(ref, state) if state is not None else None,
                        cost_per_hour_before=outcome.cost_per_hour(ref, sim.before),
                        cost_per_hour_after=outcome.cost_per_hour(ref, sim.after),
                        timeline=outcome.steps_of(ref, sim.result.timeline),
                        diff=diff or [], error=error)
