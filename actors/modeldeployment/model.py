"""ModelDeployment's pure core: fold events into a Deployment, decide what to do next.

Capacity comes from GpuPools through the capacity protocol (requests with absolute targets); replicas
are started only inside granted capacity and capacity is released only after replicas have stopped, so
neither the ledger nor the data plane is ever over-committed. Replacements are make-before-break.
"""
from __future__ import annotations

import msgspec
from msgspec.structs import replace

from actors.capacity import (Answer, CapacityAnswered, CapacityGranted, CapacityRefused, CapacityRequested,
                             answers_for, pool_key)
from actors.decisions import Context, Decision, Message, Order, PoolView, backoff
from actors.modeldeployment import process
from actors.modeldeployment.events import (PlacementFailed, ReplicaReplaced, ScaleDownStarted, ScaleUpCompleted,
                                           ScaleUpStarted)
from actors.modeldeployment.spec import ModelDeploymentSpec
from core.events import (Condition, DeletionRequested, Event, FinalizerRemoved, ReconcileFailed, SpecApplied,
                         StatusUpdated)
from core.names import Ref
from core.scale import ScaleSet
from core.replicas import (Launch, ReplicaLost, ReplicaReady, ReplicaStarted, ReplicaStartFailed, ReplicaStopped,
                           StartReplica, StopReplica)

CONTROLLER_NAME = "deployments"
FINALIZER = "deployments.bosun.dev/replicas"
DRIVER = "sim"
REQUEUE_CAP = 5.0
"""Longest wait before re-checking capacity while unschedulable: converges soon after capacity appears."""


class Replica(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    pool: str
    model: str
    gpus: int
    phase: str = "requested"  # requested | starting | ready
    stopping: bool = False
    driver: str = "sim"
    launch: Launch | None = None
    error: str = ""
    """The driver's latest start failure (it retries with backoff); cleared once the replica is ready."""


class Outstanding(msgspec.Struct, frozen=True):
    request_id: int
    gpus: int


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    ref: Ref
    spec: ModelDeploymentSpec | None = None
    generation: int = 0
    deleting: bool = False
    finalized: bool = False
    replicas: dict[str, Replica] = {}
    next_replica: int = 1
    grants: dict[str, int] = {}
    outstanding: dict[str, Outstanding] = {}
    refused: dict[str, str] = {}
    """Pool -> reason of its latest refusal; cleared when the pool grants again."""
    last_request: int = 0
    unschedulable_since: float = 0.0
    lost: tuple[tuple[str, str], ...] = ()
    """(replica, reason) lost since the last ReplicaReplaced narrative."""
    narrated_target: int = 0
    placement_failed: bool = False
    status: StatusUpdated | None = None
    scale: ScaleSet | None = None
    """The latest scale input (a scaler's ScaleSet): followed while the spec has autoscaling bounds."""


def initial(ref: Ref) -> Deployment:
    return Deployment(ref=ref)


def evolve(state: Deployment, event: Event) -> Deployment:
    match event:
        case SpecApplied(generation=g, spec=spec, created=created):
            base = state
            if created and state.finalized:  # a new incarnation keeps only what keeps ids unique
                base = replace(initial(state.ref), next_replica=state.next_replica, last_request=state.last_request)
            return replace(base, spec=msgspec.convert(spec, ModelDeploymentSpec), generation=g, deleting=False,
                           finalized=False)
        case DeletionRequested():
            return replace(state, deleting=True)
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
            return replace(state, replicas={k: v for k, v in state.replicas.items() if k != rid})
        case ReplicaLost(replica=rid, reason=why):
            r = state.replicas.get(rid)
            if r is None:
                return state
            lost = state.lost if r.stopping else (*state.lost, (rid, why))
            return replace(state, replicas={k: v for k, v in state.replicas.items() if k != rid}, lost=lost)
        case ReplicaReplaced(lost=rid):
            return replace(state, lost=tuple(x for x in state.lost if x[0] != rid))
        case CapacityRequested(request_id=n, pool=pool, gpus=gpus):
            return replace(state, outstanding={**state.outstanding, pool: Outstanding(n, gpus)},
                           last_request=max(state.last_request, n))
        case CapacityAnswered() | CapacityGranted() | CapacityRefused():
            for answer in answers_for(event, state.ref.token):
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
            return replace(state, status=event, placement_failed=state.placement_failed and not placed)
        case FinalizerRemoved():
            return replace(state, finalized=True)
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

    def __init__(self, state: Deployment) -> None:
        self.state = state
        self.events: list[Event] = []
        self.messages: list[Message] = []
        self.commands: list[Order] = []
        self.next_replica = state.next_replica
        self.next_request = state.last_request + 1

    def start(self, pool: str, spec: ModelDeploymentSpec, driver: str = DRIVER) -> str:
        rid = f"{self.state.ref.name}-{self.next_replica}"
        self.next_replica += 1
        cmd = process.start_command(driver, rid, pool, spec, self.state.generation)
        self.commands.append(Order(driver, cmd, f"{self.state.ref.token}/start/{rid}"))
        return rid

    def stop(self, r: Replica) -> None:
        self.commands.append(Order(r.driver, StopReplica(replica=r.id, pool=r.pool),
                                   f"{self.state.ref.token}/stop/{r.id}"))

    def request(self, pool: PoolView | str, gpus: int) -> None:
        key = pool if isinstance(pool, str) else pool_key(pool.ref.namespace, pool.ref.name)
        ns, name = key.split("/")
        n = self.next_request
        self.next_request += 1
        ev = CapacityRequested(request_id=n, requester=self.state.ref.token, pool=key, gpus=gpus)
        self.messages.append(Message(Ref("gpupool", ns, name), ev, f"{self.state.ref.token}/capacity/{n}"))


def _settle(state: Deployment, answer: Answer) -> Deployment:
    pool, n = answer.pool, answer.request_id
    outstanding = _settled(state.outstanding, pool, n)
    if isinstance(answer, CapacityRefused):
        return replace(state, outstanding=outstanding, refused={**state.refused, pool: answer.reason})
    grants = {k: v for k, v in state.grants.items() if k != pool}
    if answer.gpus:
        grants[pool] = answer.gpus
    refused = {k: v for k, v in state.refused.items() if k != pool}
    return replace(state, grants=grants, outstanding=outstanding, refused=refused)


def decide(state: Deployment, now: float, ctx: Context) -> Decision:
    spec = state.spec
    if spec is None or state.finalized:
        return Decision()
    plan = _Plan(state)
    g = spec.gpus_per_replica
    desired = 0 if state.deleting else _target(state, spec)
    candidates = sorted((p for p in ctx.pools if _matches(p, spec)), key=lambda p: (-p.free, p.ref.name))
    candidate_keys = {pool_key(p.ref.namespace, p.ref.name) for p in candidates}
    live = [r for r in state.replicas.values() if not r.stopping]
    fresh = [r for r in live if r.pool in candidate_keys and r.model == spec.model and r.gpus == g
             and process.runs_spec(r.driver, r.launch, spec)]
    stale = [r for r in live if r not in fresh]
    used = _used(state)
    unschedulable = ""

    # Scale up inside granted capacity first, then ask pools for more.
    missing = desired - len(fresh)
    started: list[str] = []
    for p in candidates:
        key = pool_key(p.ref.namespace, p.ref.name)
        while missing > 0 and state.grants.get(key, 0) - used.get(key, 0) >= g:
            started.append(plan.start(key, spec, p.driver))
            used[key] = used.get(key, 0) + g
            missing -= 1
    if missing > 0 and not state.deleting:
        asked = any(k in candidate_keys for k in state.outstanding)
        for p in candidates:
            key = pool_key(p.ref.namespace, p.ref.name)
            if missing <= 0 or asked:
                break
            fit = min(missing, p.free // g)
            if fit > 0 and key not in state.outstanding:
                plan.request(p, state.grants.get(key, 0) + fit * g)
                missing -= fit
                asked = True
        if missing > 0 and not asked:
            unschedulable = _why_unschedulable(spec, candidates, missing, state.refused)

    # Narrate replacements of lost replicas (the starts above already replaced them).
    for (lost_id, why), new_id in zip(state.lost, started):
        plan.events.append(ReplicaReplaced(lost=lost_id, replacement=new_id, reason=why))

    # Scale down surplus fresh replicas (not-ready ones first, newest first).
    surplus = len(fresh) - desired
    if surplus > 0:
        for r in sorted(fresh, key=lambda r: (r.phase == "ready", _index(r.id)), reverse=False)[:surplus]:
            plan.stop(r)
    # Retire stale replicas once enough fresh ones serve (make-before-break), or at once when deleting.
    fresh_ready = sum(1 for r in fresh if r.phase == "ready")
    stale_ready = [r for r in stale if r.phase == "ready"]
    removable_ready = max(0, fresh_ready + len(stale_ready) - desired) if not state.deleting else len(stale_ready)
    for r in [r for r in stale if r.phase != "ready"] + sorted(stale_ready, key=lambda r: _index(r.id))[
            :removable_ready]:
        plan.stop(r)

    # Release capacity nobody uses any more (only after replicas have actually stopped).
    if missing <= 0 and not started:
        for key, held in sorted(state.grants.items()):
            if held > used.get(key, 0) and key not in state.outstanding:
                plan.request(key, used.get(key, 0))

    finished = state.deleting and not state.replicas and not state.grants and not state.outstanding \
        and not plan.messages
    _narrate(plan, state, spec, desired, fresh_ready, unschedulable, finished, now)
    if finished:
        plan.events.append(FinalizerRemoved(finalizer=FINALIZER, generation=state.generation))
    wake = None
    if unschedulable:
        # Re-check capacity with a wait that grows with how long we have been unschedulable (capped),
        # jittered deterministically so replays agree and a crowd of pending deployments spreads out.
        waited = max(0.0, now - state.unschedulable_since) if state.placement_failed else 0.0
        wake = now + 0.2 + backoff(1 + int(waited // 2), state.ref.token, base=0.5, cap=REQUEUE_CAP)
    return Decision(events=tuple(plan.events), messages=tuple(plan.messages), commands=tuple(plan.commands),
                    wake_at=wake)


def _target(state: Deployment, spec: ModelDeploymentSpec) -> int:
    """Replicas to converge to: the scale input inside the autoscaling bounds, else the spec's own."""
    a = spec.autoscaling
    if a is None or state.scale is None:
        return spec.desired
    return min(max(state.scale.replicas, a.min), a.max)


def _matches(p: PoolView, spec: ModelDeploymentSpec) -> bool:
    return p.region == spec.placement.region and p.gpu == spec.placement.gpu and not p.deleting \
        and process.placeable(p, spec)


def _used(state: Deployment) -> dict[str, int]:
    used: dict[str, int] = {}
    for r in state.replicas.values():
        used[r.pool] = used.get(r.pool, 0) + r.gpus
    return used


def _why_unschedulable(spec: ModelDeploymentSpec, candidates: list[PoolView], missing: int,
                       refused: dict[str, str]) -> str:
    want = f"{missing} more replica(s) of {spec.gpus_per_replica} {spec.placement.gpu} GPU in {spec.placement.region}"
    if not candidates:
        return f"no ready GpuPool matches gpu={spec.placement.gpu} region={spec.placement.region} (need {want})"
    free = ", ".join(f"{p.ref.name}: {p.free} free" for p in candidates)
    return f"insufficient capacity for {want} ({free})"


def _narrate(plan: _Plan, state: Deployment, spec: ModelDeploymentSpec, desired: int, fresh_ready: int,
             unschedulable: str, finished: bool, now: float) -> None:
    current = sum(1 for r in state.replicas.values() if not r.stopping)
    if not state.deleting and desired != state.narrated_target and (plan.commands or plan.messages):
        if desired > state.narrated_target:
            plan.events.append(ScaleUpStarted(from_replicas=current, to_replicas=desired))
        else:
            plan.events.append(ScaleDownStarted(from_replicas=current, to_replicas=desired))
    if unschedulable and not state.placement_failed:
        plan.events.append(PlacementFailed(reason=unschedulable, since=now))
    # Status as it stands once this decision's commands are in the log: a replica being started is placed
    # now, not one observation later (one StatusUpdated fewer per scale-up).
    placed = state
    for order in plan.commands:
        placed = evolve(placed, order.command)
    status = _status(placed, spec, desired, fresh_ready, unschedulable, finished)
    if status.phase == "Ready" and (state.status is None or state.status.phase != "Ready") and desired > 0:
        plan.events.append(ScaleUpCompleted(replicas=desired))
    if state.status is None or _differs(state.status, status):
        plan.events.append(status)


def _status(state: Deployment, spec: ModelDeploymentSpec, desired: int, fresh_ready: int, unschedulable: str,
            finished: bool) -> StatusUpdated:
    by_pool: dict[str, int] = {}
    for r in state.replicas.values():
        if not r.stopping:
            by_pool[r.pool] = by_pool.get(r.pool, 0) + 1
    ready_total = sum(1 for r in state.replicas.values() if r.phase == "ready" and not r.stopping)
    converged = fresh_ready == desired and len(state.replicas) == desired and all(
        r.phase == "ready" and not r.stopping for r in state.replicas.values())
    if state.deleting:
        phase = "Deleting"
        ready = Condition(type="Ready", status="False", reason="Deleting",
                          message="finalizer removed" if finished else
                          f"stopping {len(state.replicas)} replica(s), releasing capacity")
    elif converged:
        phase = "Ready"
        ready = Condition(type="Ready", status="True", reason="Converged",
                          message=f"{ready_total}/{desired} replicas ready")
    elif unschedulable and fresh_ready == 0:
        phase = "Pending"
        ready = Condition(type="Ready", status="False", reason="Unschedulable", message=unschedulable)
    else:
        phase = "Progressing"
        reason = "Unschedulable" if unschedulable else ("ScalingDown" if len(state.replicas) > desired
                                                        else "ScalingUp")
        ready = Condition(type="Ready", status="False", reason=reason,
                          message=unschedulable or f"{ready_total}/{desired} replicas ready")
    conditions = [ready, *_failing(state), *_limited(state, spec)]
    if unschedulable:
        conditions.append(Condition(type="Scheduled", status="False", reason="InsufficientCapacity",
                                    message=unschedulable))
    elif not state.deleting:
        conditions.append(Condition(type="Scheduled", status="True", reason="Placed",
                                    message=f"{len(by_pool)} pool(s)"))
    fields = {"desiredReplicas": desired, "readyReplicas": ready_total, "replicasByPool": by_pool,
              "gpusByPool": dict(sorted(state.grants.items()))}
    return StatusUpdated(observed_generation=state.generation, phase=phase, conditions=tuple(conditions),
                         fields=fields)


def _failing(state: Deployment) -> list[Condition]:
    """Replicas the driver cannot start: the deployment quotes the error while the driver backs off."""
    failing = sorted((r for r in state.replicas.values() if r.error and not r.stopping), key=lambda r: _index(r.id))
    if not failing:
        return []
    first = failing[0]
    more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
    return [Condition(type="ReplicaFailure", status="True", reason="StartFailed",
                      message=f"{first.id}: {first.error}{more}")]


def _limited(state: Deployment, spec: ModelDeploymentSpec) -> list[Condition]:
    """A scaler wants more replicas than a limit allows: say who, how many, and which limit."""
    s = state.scale
    if s is None or not s.limit or spec.autoscaling is None:
        return []
    return [Condition(type="ScalingLimited", status="True", reason="TooManyReplicas",
                      message=f"{s.by} wants {s.wanted} replicas; {s.replicas} allowed by {s.limit}")]


def _differs(a: StatusUpdated, b: StatusUpdated) -> bool:
    return (a.phase, a.observed_generation, a.conditions, a.fields) != (b.phase, b.observed_generation,
                                                                        b.conditions, b.fields)


def status_of(state: Deployment) -> StatusUpdated | None:
    return state.status


def finished(state: Deployment) -> bool:
    return state.finalized


__all__ = ["Deployment", "ReconcileFailed", "Replica", "decide", "evolve", "finished", "initial", "status_of"]
