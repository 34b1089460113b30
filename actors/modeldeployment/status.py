"""ModelDeployment's narrative and status: the story each decision tells, and the status it publishes."""
from __future__ import annotations

from typing import NamedTuple

from actors.kind import Resource
from actors.modeldeployment import deadline, nodepools
from actors.modeldeployment.events import (
    PlacementFailed,
    ScaleDownStarted,
    ScaleUpCompleted,
    ScaleUpStarted,
    placement_code,
)
from actors.modeldeployment.spec import ModelDeploymentSpec
from actors.modeldeployment.state import Deployment, Phase
from core.events import Condition, Event, StatusUpdated
from core.scale import limit_reason


class Outcome(NamedTuple):
    """What one decision did, as its narrative needs it."""

    desired: int
    fresh_ready: int
    unschedulable: str
    finished: bool
    acted: bool
    """The decision orders or asks something (commands or inbox messages)."""


COMPACT = 2
"""The kind's behaviour from which a scale-up is told by its statuses alone (`Kind.behaviour`): no
`deployment.scale-up-started` (the status says ScalingUp, `0/N replicas ready`) and no
`deployment.scale-up-completed` (the status says Ready, Converged). Two appends and four deliveries fewer per
converged deployment (issue #27); decisions recorded with behaviour 1 still write them (`replay --check`)."""

QUIET = 3
"""The behaviour from which a decision that orders something (asks a pool for capacity, starts replicas) for a
new generation writes no ScalingUp status: it asks to decide again `HOLD` later instead. The next decision that
orders nothing (a replica's observation, or that timer) writes the status as before, so a rollout whose
replicas are ready at once tells Pending -> Ready, and one that is not says ScalingUp within `HOLD`; a status
that is news (refused capacity, failing replicas, a limit, the deadline) is never held. One or two appends and
two to four deliveries fewer per converged deployment (issue #27)."""
HOLD = 1.0
"""Seconds a held ScalingUp status waits at most (`QUIET`)."""


def narrate(events: list[Event], res: Resource[ModelDeploymentSpec, Deployment], placed: Deployment,
            outcome: Outcome, now: float, behaviour: int = 1) -> float | None:
    """Append the decision's story: scale-down started, placement failed, the new status (and, behaviour 1,
    scale-up started and completed).

    `placed` is the state once the decision's commands are folded: a replica being started is placed
    now, not one observation later (one StatusUpdated fewer per scale-up). Returns when to look again
    for the progress deadline (`deadline.py`), if one is running.
    """
    state, desired = res.state, outcome.desired
    current = sum(1 for r in state.replicas.values() if not r.stopping)
    compact = behaviour >= COMPACT
    told = _told_target(res) if compact else state.narrated_target
    if not res.deleting and desired != told and outcome.acted:
        if desired < told:
            events.append(ScaleDownStarted(from_replicas=current, to_replicas=desired))
        elif not compact:
            events.append(ScaleUpStarted(from_replicas=current, to_replicas=desired))
    if outcome.unschedulable and not state.placement_failed:
        events.append(PlacementFailed(reason=outcome.unschedulable, since=now,
                                      code=placement_code(outcome.unschedulable)))
    status = _status(res, placed, desired, outcome.fresh_ready, outcome.unschedulable, outcome.finished)
    status, wake = deadline.progress(status, res.status, res.spec, now)
    if not compact and status.phase == "Ready" and (res.status is None or res.status.phase != "Ready") \
            and desired > 0:
        events.append(ScaleUpCompleted(replicas=desired))
    if behaviour >= QUIET and outcome.acted and _starting(status, res.status):
        return now + HOLD if wake is None else min(now + HOLD, wake)
    events.append(status)
    return wake


def _starting(status: StatusUpdated, last: StatusUpdated | None) -> bool:
    """A new generation's ScalingUp status, nothing failing or limited: held back (`QUIET`)."""
    if last is not None and last.observed_generation == status.observed_generation:
        return False
    return status.phase == "Progressing" and status.conditions[0].reason == "ScalingUp" and all(
        (c.type, c.status) in _UNEVENTFUL for c in status.conditions[1:])


_UNEVENTFUL = {("Scheduled", "True"), ("Progressing", "True")}


def _told_target(res: Resource[ModelDeploymentSpec, Deployment]) -> int:
    """The replicas the last status asked for (behaviour 2 tells a scale-up by its statuses): a scale-down
    below it is narrated."""
    fields = res.status.fields if res.status is not None else None
    told = fields.get("desiredReplicas") if isinstance(fields, dict) else None
    return told if isinstance(told, int) else 0


def _status(res: Resource[ModelDeploymentSpec, Deployment], state: Deployment, desired: int, fresh_ready: int,
            unschedulable: str, finished: bool) -> StatusUpdated:
    by_pool: dict[str, int] = {}
    for r in state.replicas.values():
        if not r.stopping:
            by_pool[r.pool] = by_pool.get(r.pool, 0) + 1
    ready_total = sum(1 for r in state.replicas.values() if r.phase == "ready" and not r.stopping)
    converged = fresh_ready == desired and len(state.replicas) == desired and all(
        r.phase == "ready" and not r.stopping for r in state.replicas.values())
    moving = nodepools.on_draining(state)
    phase: Phase
    if res.deleting:
        phase = "Deleting"
        ready = Condition(type="Ready", status="False", reason="Deleting",
                          message="finalizer removed" if finished else
                          f"stopping {len(state.replicas)} replica(s), releasing capacity")
    elif converged:
        phase = "Ready"
        ready = Condition(type="Ready", status="True", reason="Converged",
                          message=f"{ready_total}/{desired} replicas ready")
    elif unschedulable and fresh_ready == 0 and not moving:
        phase = "Pending"
        ready = Condition(type="Ready", status="False", reason="Unschedulable", message=unschedulable)
    elif moving:
        phase = "Progressing"
        ready = Condition(type="Ready", status="False", reason="Unschedulable" if unschedulable else "Draining",
                          message=_moving(moving, ready_total, desired, unschedulable))
    else:
        phase = "Progressing"
        reason = "Unschedulable" if unschedulable else ("ScalingDown" if len(state.replicas) > desired
                                                        else "ScalingUp")
        ready = Condition(type="Ready", status="False", reason=reason,
                          message=unschedulable or f"{ready_total}/{desired} replicas ready")
    conditions = [ready, *_failing(state), *_limited(state, res.spec)]
    if unschedulable:
        conditions.append(Condition(type="Scheduled", status="False", reason="InsufficientCapacity",
                                    message=unschedulable))
    elif not res.deleting:
        conditions.append(Condition(type="Scheduled", status="True", reason="Placed",
                                    message=f"{len(by_pool)} pool(s)"))
    fields = {"desiredReplicas": desired, "readyReplicas": ready_total, "replicasByPool": by_pool,
              "gpusByPool": dict(sorted(state.grants.items()))}
    by_node = _by_node(state)
    if by_node:
        fields["replicasByNode"] = by_node
    if moving:
        fields["drainingReplicas"] = dict(sorted(moving.items()))
    return res.status_update(phase, *conditions, fields=fields)


def _moving(moving: dict[str, str], ready: int, desired: int, unschedulable: str) -> str:
    """Where a drain stands for this deployment: what is left on which node, and what blocks it."""
    nodes = ", ".join(sorted(set(moving.values())))
    if unschedulable:
        return f"cannot move {len(moving)} replica(s) off draining node(s) {nodes}: {unschedulable}"
    return f"moving {len(moving)} replica(s) off draining node(s) {nodes}: {ready}/{desired} replicas ready"


def _by_node(state: Deployment) -> dict[str, int]:
    """Live replicas per node, on pools made of nodes (their slots say where)."""
    out: dict[str, int] = {}
    for slots in state.slots.values():
        for s in slots:
            r = state.replicas.get(s.replica)
            if r is not None and not r.stopping:
                out[s.node] = out.get(s.node, 0) + 1
    return dict(sorted(out.items()))


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
    return [Condition(type="ScalingLimited", status="True", reason=limit_reason(s.limit),
                      message=f"{s.by} wants {s.wanted} replicas; {s.replicas} allowed by {s.limit}")]


def _index(replica_id: str) -> int:
    tail = replica_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0
