"""ModelDeployment's pure core: fold events into a Deployment, decide what to do next.

Capacity comes from GpuPools through the capacity protocol (requests with absolute targets); replicas
are started only inside granted capacity and capacity is released only after replicas have stopped, so
neither the ledger nor the data plane is ever over-committed. Replacements are make-before-break.
"""
from __future__ import annotations

from typing import NamedTuple

from msgspec.structs import replace

from actors import capacity
from actors.capacity import (
    POOL_KIND,
    Answer,
    CapacityAnswered,
    CapacityGranted,
    CapacityRefused,
    CapacityRequested,
    PoolNodesDraining,
    PoolView,
    SlotsGranted,
    SlotsRequested,
    answers_for,
    pool_key,
)
from actors.decisions import Context, Decision, Message, Order, backoff
from actors.kind import Resource
from actors.modeldeployment import nodepools, process
from actors.modeldeployment.events import (
    NO_MATCHING_POOL,
    NO_POOL_MAY_TAKE,
    PlacementFailed,
    ReplicaReplaced,
    ScaleDownStarted,
    ScaleUpCompleted,
    ScaleUpStarted,
)
from actors.modeldeployment.spec import ModelDeploymentSpec
from actors.modeldeployment.state import Deployment, Outstanding, Replica
from actors.modeldeployment.status import QUIET, Outcome, narrate
from actors.placement import Slot
from core.events import Event, StatusUpdated
from core.replicas import (
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStartFailed,
    ReplicaStopped,
    StartReplica,
    StopReplica,
)
from core.scale import ScaleSet

CONTROLLER_NAME = "deployments"
BEHAVIOUR = QUIET
"""What `decide` writes today (`Kind.behaviour`; see `status.COMPACT` and `status.QUIET`)."""
FINALIZER = "deployments.bosun.dev/replicas"
DRIVER = "sim"
REQUEUE_CAP = 5.0
"""Longest wait before re-checking capacity while unschedulable: converges soon after capacity appears."""


Live = Resource[ModelDeploymentSpec, Deployment]


def reborn(state: Deployment) -> Deployment:
    """A new incarnation keeps only what keeps ids unique."""
    return Deployment(next_replica=state.next_replica, last_request=state.last_request)


def evolve(r: Live, event: Event) -> Deployment:
    return fold(r.state, r.ref.token, event)


def fold(state: Deployment, token: str, event: Event) -> Deployment:
    match event:
        case StartReplica(replica=rid, pool=pool, model=m, gpus=gpus):
            if rid in state.replicas:
                return state
            replicas = {**state.replicas, rid: Replica(id=rid, pool=pool, model=m, gpus=gpus,
                                                       driver=process.driver_of(event),
                                                       launch=process.launch_of(event))}
            return replace(state, replicas=replicas, next_replica=max(state.next_replica, _index(rid) + 1))
        case StopReplica(replica=rid):
            return _with_replica(state, rid, stopping=True)
        case ReplicaStarted(replica=rid):
            r = state.replicas.get(rid)
            return _with_replica(state, rid, phase="starting") if r is not None and r.phase == "requested" else state
        case ReplicaReady(replica=rid):
            return _with_replica(state, rid, phase="ready", error="")
        case ReplicaStartFailed(replica=rid, reason=why):
            return _with_replica(state, rid, error=why)
        case ReplicaStopped(replica=rid):
            return nodepools.ended(replace(state, replicas={k: v for k, v in state.replicas.items() if k != rid}), rid)
        case ReplicaLost(replica=rid, reason=why):
            r = state.replicas.get(rid)
            if r is None:
                return nodepools.lost_unstarted(state, event)
            lost = state.lost if r.stopping else (*state.lost, (rid, why))
            return nodepools.ended(replace(state, replicas={k: v for k, v in state.replicas.items() if k != rid},
                                     lost=lost), rid)
        case PoolNodesDraining():
            return nodepools.draining(state, token, event)
        case ReplicaReplaced(lost=rid):
            return replace(state, lost=tuple(x for x in state.lost if x[0] != rid))
        case CapacityRequested(request_id=n, pool=pool, gpus=gpus):
            reserved = nodepools.reserved(event) if isinstance(event, SlotsRequested) else 0
            return replace(state, outstanding={**state.outstanding, pool: Outstanding(n, gpus)},
                           last_request=max(state.last_request, n), next_replica=max(state.next_replica, reserved))
        case CapacityAnswered() | CapacityGranted() | CapacityRefused():
            for answer in answers_for(event, token):
                state = _settle(state, answer)
            return state
        case ScaleUpStarted(to_replicas=n) | ScaleDownStarted(to_replicas=n):
            return replace(state, narrated_target=n)
        case ScaleUpCompleted():
            return state
        case PlacementFailed(since=since):
            return replace(state, placement_failed=True, unschedulable_since=since)
        case StatusUpdated():
            placed = not any(c.type == "Scheduled" and c.status == "False" for c in event.conditions)
            return replace(state, placement_failed=state.placement_failed and not placed)
        case ScaleSet():
            return replace(state, scale=event)
        case _:
            return state


def _index(replica_id: str) -> int:
    tail = replica_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _with_replica(state: Deployment, rid: str, **changes: object) -> Deployment:
    r = state.replicas.get(rid)
    if r is None:
        return state
    return replace(state, replicas={**state.replicas, rid: replace(r, **changes)})


def _settled(outstanding: dict[str, Outstanding], pool: str, request_id: int) -> dict[str, Outstanding]:
    o = outstanding.get(pool)
    if o is None or o.request_id != request_id:
        return outstanding
    return {k: v for k, v in outstanding.items() if k != pool}


class _Plan:
    """Scratch space for one decision: what to append, in order."""

    def __init__(self, res: Live) -> None:
        self.res = res
        self.token = res.ref.token
        self.events: list[Event] = []
        self.messages: list[Message] = []
        self.commands: list[Order] = []
        self.next_replica = res.state.next_replica
        self.next_request = res.state.last_request + 1
        self.asked: set[str] = set()
        """Pools this decision asks (a release must not follow a request to the same pool)."""

    def start(self, pool: str, spec: ModelDeploymentSpec, driver: str = DRIVER) -> str:
        rid = f"{self.res.ref.name}-{self.next_replica}"
        self.next_replica += 1
        cmd = process.start_command(driver, rid, pool, spec, self.res.generation)
        self.commands.append(Order(driver, cmd, f"{self.token}/start/{rid}"))
        return rid

    def start_slot(self, pool: str, slot: Slot, spec: ModelDeploymentSpec) -> str:
        driver, cmd = process.start_on_node(slot, pool, spec, self.res.generation)
        self.commands.append(Order(driver, cmd, f"{self.token}/start/{slot.replica}"))
        return slot.replica

    def request_slots(self, pool: str, replicas: list[str]) -> None:
        self.asked.add(pool)
        self.messages.append(nodepools.request(self.res.ref, pool, replicas, self.res.spec, self.next_request))
        self.next_request += 1
        self.next_replica = max(self.next_replica, max((_index(x) + 1 for x in replicas), default=0))

    def stop(self, r: Replica) -> None:
        self.commands.append(Order(r.driver, StopReplica(replica=r.id, pool=r.pool),
                                   f"{self.token}/stop/{r.id}"))

    def request(self, pool: PoolView | str, gpus: int) -> None:
        key = pool if isinstance(pool, str) else pool_key(pool.ref.namespace, pool.ref.name)
        self.messages.append(capacity.request(self.res.ref, key, gpus, self.next_request))
        self.next_request += 1


def _settle(state: Deployment, answer: Answer) -> Deployment:
    pool, n = answer.pool, answer.request_id
    outstanding = _settled(state.outstanding, pool, n)
    if isinstance(answer, CapacityRefused):
        return replace(state, outstanding=outstanding)
    grants = {k: v for k, v in state.grants.items() if k != pool}
    if answer.gpus:
        grants[pool] = answer.gpus
    state = replace(state, grants=grants, outstanding=outstanding)
    return nodepools.granted(state, answer) if isinstance(answer, SlotsGranted) else state


class _Fleet(NamedTuple):
    """Where the live replicas stand against the spec and the pools that match it."""

    candidates: list[PoolView]
    """Matching pools, most free capacity first."""
    keys: set[str]
    fresh: list[Replica]
    """Live replicas that match the spec and sit on a matching pool."""
    stale: list[Replica]
    """Live replicas to retire: the spec or the placement moved on."""
    refused: list[str]
    """Why each pool of the right region and GPU may not take this deployment (placement policy)."""


def decide(res: Live, now: float, ctx: Context) -> Decision:
    state, spec = res.state, res.spec
    plan = _Plan(res)
    desired = 0 if res.deleting else _target(state, spec)
    fleet = _fleet(res, ctx)
    used = _used(state)
    missing, started, unschedulable = _plan_scale_up(plan, res, fleet, used, desired, ctx)
    _replace_lost(plan, state, started)
    fresh_ready = _plan_scale_down(plan, res, fleet, desired)
    if missing <= 0 and not started:
        _release_unused(plan, state, used)
    finished = _finalize_deletion(plan, res)
    if not res.deleting:
        plan.events.extend(nodepools.drained(state, plan.commands, fresh_ready))
    placed = state
    for order in plan.commands:
        placed = fold(placed, plan.token, order.command)
    acted = bool(plan.commands or plan.messages)
    wake = narrate(plan.events, res, placed, Outcome(desired, fresh_ready, unschedulable, finished, acted), now,
                   ctx.behaviour)
    if finished:
        plan.events.extend(res.release())
    requeue = _requeue(res, now) if unschedulable else None
    return Decision(events=tuple(plan.events), messages=tuple(plan.messages), commands=tuple(plan.commands),
                    wake_at=min((t for t in (requeue, wake) if t is not None), default=None))


def _fleet(res: Live, ctx: Context) -> _Fleet:
    state, spec = res.state, res.spec
    matching = [p for p in ctx.of(POOL_KIND) if _matches(p, spec)]
    refusals = {p.ref: process.refusal(p, spec, res.ref.namespace) for p in matching}
    candidates = sorted((p for p in matching if refusals[p.ref] is None), key=lambda p: (-p.free, p.ref.name))
    keys = {pool_key(p.ref.namespace, p.ref.name) for p in candidates}
    live = [r for r in state.replicas.values() if not r.stopping]
    moving = nodepools.on_draining(state)  # on a draining node: replaced elsewhere, then stopped
    fresh = [r for r in live if r.id not in moving and r.pool in keys and r.model == spec.model
             and r.gpus == spec.gpus_per_replica and process.runs_spec(r.driver, r.launch, spec)]
    return _Fleet(candidates, keys, fresh, [r for r in live if r not in fresh],
                  sorted(why for why in refusals.values() if why is not None))


def _plan_scale_up(plan: _Plan, res: Live, fleet: _Fleet, used: dict[str, int],
                   desired: int, ctx: Context) -> tuple[int, list[str], str]:
    """Start replicas inside granted capacity first, then ask pools for more.

    Returns (replicas still missing, ids started, why unschedulable or ""); `used` counts the starts.
    """
    state, spec = res.state, res.spec
    g = spec.gpus_per_replica
    missing = desired - len(fleet.fresh)
    started: list[str] = []
    for p in fleet.candidates:
        key = pool_key(p.ref.namespace, p.ref.name)
        if p.driver == process.NODE:
            for slot in nodepools.unstarted(state, key):
                if missing <= 0:
                    break
                started.append(plan.start_slot(key, slot, spec))
                used[key] = used.get(key, 0) + g
                missing -= 1
            continue
        while missing > 0 and _usable(state, key) - used.get(key, 0) >= g:
            started.append(plan.start(key, spec, p.driver))
            used[key] = used.get(key, 0) + g
            missing -= 1
    if missing <= 0 or res.deleting:
        return missing, started, ""
    asked = any(k in fleet.keys for k in state.outstanding)
    constrained: list[str] = []
    for p in fleet.candidates:
        key = pool_key(p.ref.namespace, p.ref.name)
        if missing <= 0 or asked:
            break
        if p.driver == process.NODE:
            n, why = nodepools.room(state, p, key, spec, ctx) if key not in state.outstanding else (0, "")
            n = min(n, missing)
            if n > 0:
                plan.request_slots(key, nodepools.kept(state, key) +
                                   [f"{res.ref.name}-{plan.next_replica + i}" for i in range(n)])
                missing -= n
                asked = True
            elif why:
                constrained.append(f"GpuPool {key}: {why}")
            continue
        fit = min(missing, p.free // g)
        if fit > 0 and key not in state.outstanding:
            plan.request(p, state.grants.get(key, 0) + fit * g)
            missing -= fit
            asked = True
    unschedulable = _why_unschedulable(spec, fleet, missing, constrained) if missing > 0 and not asked else ""
    return missing, started, unschedulable


def _usable(state: Deployment, key: str) -> int:
    """GPUs of pool `key` it may start replicas on: the grant, or — while a request to the pool is still
    unanswered — the smaller of the grant and that request. A release asked for is granted in log order
    and may land before a start decided on the old grant: the pool would then count fewer GPUs than run
    (found by the chaos allocation checker, `chaos.asked`: a scale-up right after a scale-down)."""
    granted = state.grants.get(key, 0)
    asked = state.outstanding.get(key)
    return granted if asked is None else min(granted, asked.gpus)


def _replace_lost(plan: _Plan, state: Deployment, started: list[str]) -> None:
    """Narrate replacements of lost replicas (the starts of the scale-up already replaced them)."""
    for (lost_id, why), new_id in zip(state.lost, started, strict=False):
        plan.events.append(ReplicaReplaced(lost=lost_id, replacement=new_id, reason=why))


def _plan_scale_down(plan: _Plan, res: Live, fleet: _Fleet, desired: int) -> int:
    """Stop surplus fresh replicas and retire stale ones; returns how many fresh replicas are ready.

    Surplus goes not-ready first, then oldest first (lowest replica index). Stale replicas are retired
    once enough fresh ones serve (make-before-break), or at once when deleting.
    """
    surplus = len(fleet.fresh) - desired
    if surplus > 0:
        for r in sorted(fleet.fresh, key=lambda r: (r.phase == "ready", _index(r.id)))[:surplus]:
            plan.stop(r)
    fresh_ready = sum(1 for r in fleet.fresh if r.phase == "ready")
    stale_ready = [r for r in fleet.stale if r.phase == "ready"]
    removable = len(stale_ready) if res.deleting else max(0, fresh_ready + len(stale_ready) - desired)
    for r in [r for r in fleet.stale if r.phase != "ready"]:
        plan.stop(r)
    for r in sorted(stale_ready, key=lambda r: _index(r.id))[:removable]:
        plan.stop(r)
    return fresh_ready


def _release_unused(plan: _Plan, state: Deployment, used: dict[str, int]) -> None:
    """Give back capacity nobody uses any more (only after replicas have actually stopped)."""
    for key, held in sorted(state.grants.items()):
        if held <= used.get(key, 0) or key in state.outstanding or key in plan.asked:
            continue
        if key in state.slots:  # a node pool: keep the slots of live replicas, release the rest
            plan.request_slots(key, nodepools.live(state, key))
        else:
            plan.request(key, used.get(key, 0))


def _finalize_deletion(plan: _Plan, res: Live) -> bool:
    """True when a deletion is complete: no replica, no capacity held or asked, nothing left to say."""
    state = res.state
    return (res.deleting and not state.replicas and not state.grants and not state.outstanding
            and not plan.messages)


def _requeue(res: Live, now: float) -> float:
    """When to re-check capacity while unschedulable: a wait that grows with how long we have been
    unschedulable (capped), jittered deterministically so replays agree and a crowd spreads out."""
    state = res.state
    waited = max(0.0, now - state.unschedulable_since) if state.placement_failed else 0.0
    return now + 0.2 + backoff(1 + int(waited // 2), res.ref.token, base=0.5, cap=REQUEUE_CAP)


def _target(state: Deployment, spec: ModelDeploymentSpec) -> int:
    """Replicas to converge to: the scale input inside the autoscaling bounds, else the spec's own."""
    a = spec.autoscaling
    if a is None or state.scale is None:
        return spec.desired
    return min(max(state.scale.replicas, a.min), a.max)


def _matches(p: PoolView, spec: ModelDeploymentSpec) -> bool:
    return p.region == spec.placement.region and p.gpu == spec.placement.gpu and not p.deleting


def _used(state: Deployment) -> dict[str, int]:
    used: dict[str, int] = {}
    for r in state.replicas.values():
        used[r.pool] = used.get(r.pool, 0) + r.gpus
    return used


def _why_unschedulable(spec: ModelDeploymentSpec, fleet: _Fleet, missing: int, constrained: list[str]) -> str:
    want = f"{missing} more replica(s) of {spec.gpus_per_replica} {spec.placement.gpu} GPU in {spec.placement.region}"
    if not fleet.candidates and fleet.refused:
        return f"{NO_POOL_MAY_TAKE}: {'; '.join(fleet.refused[:3])} (need {want})"
    if not fleet.candidates:
        return f"{NO_MATCHING_POOL} gpu={spec.placement.gpu} region={spec.placement.region} (need {want})"
    free = ", ".join(f"{p.ref.name}: {p.free} free" for p in fleet.candidates)
    return f"insufficient capacity for {want} ({free})" + (f": {'; '.join(constrained)}" if constrained else "")
