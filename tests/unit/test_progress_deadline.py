"""`spec.progressDeadlineSeconds`: given events, when now, then the Progressing condition (issue #28: a
deployment at 8/30 Unschedulable stayed Progressing forever)."""
from __future__ import annotations

from typing import Any

import msgspec

from actors.decisions import Context, Decision
from actors.modeldeployment import deadline
from actors.modeldeployment.spec import ModelDeploymentSpec
from core.events import Condition, SpecApplied, StatusUpdated
from tests.simworld import deployment_spec
from tests.unit.test_modeldeployment import DEPLOYMENT, fold, pools


def _status(d: Decision) -> StatusUpdated:
    return next(e for e in d.events if isinstance(e, StatusUpdated))


def _progressing(status: StatusUpdated) -> Condition | None:
    return next((c for c in status.conditions if c.type == "Progressing"), None)


def _settle(state: Any, now: float, ctx: Context) -> tuple[Any, Decision]:
    """Decide and fold the decision's own writes (as the host does), through the compiled controller."""
    d = DEPLOYMENT.decide(state, now, ctx)
    for ev in (*d.events, *(m.event for m in d.messages), *(o.command for o in d.commands)):
        state = DEPLOYMENT.evolve(state, ev)
    return state, d


def _spec(**extra: Any) -> dict[str, Any]:
    return {**deployment_spec(8, gpu="h100"), **extra}


def test_no_progress_past_the_deadline_sets_progressing_false_at_the_wakeup() -> None:
    state = fold(SpecApplied(generation=1, spec=_spec(progressDeadlineSeconds=30), created=True))
    state, d = _settle(state, 100.0, pools())  # no pool matches h100: unschedulable, no progress possible
    first = _progressing(_status(d))
    assert first is not None and (first.status, first.reason) == ("True", "RollingOut")
    assert _status(d).fields["lastProgressAt"] == "1970-01-01T00:01:40.000Z"
    assert d.wake_at is not None and d.wake_at <= 130.0
    state, d = _settle(state, 129.0, pools())
    assert not any(isinstance(e, StatusUpdated) for e in d.events)  # nothing new to say before the deadline
    state, d = _settle(state, 130.0, pools())
    late = _progressing(_status(d))
    assert late is not None and (late.status, late.reason) == ("False", "ProgressDeadlineExceeded")
    assert _status(d).phase == "Pending"  # the rollout goes on: capacity may still come


def test_more_ready_replicas_is_progress_and_restarts_the_clock() -> None:
    before = StatusUpdated(observed_generation=1, phase="Progressing",
                           fields={"readyReplicas": 1, "lastProgressAt": "1970-01-01T00:00:10.000Z"})
    after = StatusUpdated(observed_generation=1, phase="Progressing", fields={"readyReplicas": 2})
    spec = msgspec.convert(_spec(progressDeadlineSeconds=30), ModelDeploymentSpec)
    moved, wake = deadline.progress(after, before, spec, 35.0)
    assert moved.fields["lastProgressAt"] == "1970-01-01T00:00:35.000Z" and wake == 65.0
    same, _ = deadline.progress(StatusUpdated(observed_generation=1, phase="Progressing",
                                              fields={"readyReplicas": 1}), before, spec, 45.0)
    late = _progressing(same)
    assert same.fields["lastProgressAt"] == "1970-01-01T00:00:10.000Z"
    assert late is not None and late.reason == "ProgressDeadlineExceeded"


def test_without_a_deadline_the_status_is_what_it_always_was() -> None:
    state = fold(SpecApplied(generation=1, spec=deployment_spec(8, gpu="h100"), created=True))
    _, d = _settle(state, 100.0, pools())
    assert _progressing(_status(d)) is None and "lastProgressAt" not in _status(d).fields
