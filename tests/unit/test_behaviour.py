"""Versioned decisions (`Kind.behaviour`): ModelDeployment's behaviour 3 holds a new generation's first ScalingUp
statuses back for `HOLD` (a rollout that converges by then tells Pending -> Ready), behaviour 2 tells a scale-up
by its statuses alone (each two appends and four deliveries fewer per converged deployment, issue #27),
behaviour 1 still writes `deployment.scale-up-started`/`-completed`; each decision records the behaviour it ran
with, and `replay --check` holds every history, and one that changes behaviour midway, against today's code."""
from __future__ import annotations

from actors.decisions import decode_context
from actors.modeldeployment.events import ScaleDownStarted, ScaleUpCompleted, ScaleUpStarted
from actors.modeldeployment.status import HOLD
from core import headers as H
from core.events import Event, StatusUpdated
from core.names import Ref
from tests.conftest import REGISTRY
from tests.simworld import World, deployment_spec, pool_spec
from tests.unit.test_kernel_agreement import checked

POOL, CHAT = Ref("gpupool", "infra", "p"), Ref("modeldeployment", "team-a", "chat")


def _world(behaviour: int | None) -> World:
    return _rollout(World(seed=3, behaviours={"modeldeployment": behaviour} if behaviour else None), 3)


def _told(w: World) -> list[type]:
    return [type(e) for ref, e in w.history if ref == CHAT and type(e) in (ScaleUpStarted, ScaleUpCompleted,
                                                                          ScaleDownStarted, StatusUpdated)]


def _reasons(w: World) -> list[str]:
    return [e.conditions[0].reason for ref, e in w.history if ref == CHAT and isinstance(e, StatusUpdated)]


class _Dropping(World):
    """A data plane that reports only some observations: `ReplicaStarted` and `ReplicaReady` in one (a replica
    ready at once: the host folds both in one drain), or none (a driver that is down)."""

    def __init__(self, dropped: set[str], behaviours: dict[str, int] | None = None) -> None:
        super().__init__(seed=3, behaviours=behaviours)
        self.dropped = dropped

    def append(self, subject: str, owner: Ref, event: Event, headers: dict[str, str]) -> int:
        if type(event).__name__ in self.dropped:
            return 0
        return super().append(subject, owner, event, headers)


def _rollout(w: World, replicas: int = 1) -> World:
    w.apply(POOL, pool_spec(8), 1, created=True)
    w.run()
    w.apply(CHAT, deployment_spec(replicas), 1, created=True)
    w.run()
    return w


def test_todays_deployment_writes_no_status_for_a_decision_that_only_orders() -> None:
    assert REGISTRY.controller_for("modeldeployment").behaviour == 3  # type: ignore[union-attr]
    w = _rollout(_Dropping({"ReplicaStarted"}))
    assert _reasons(w) == ["Converged"], "a rollout ready at once tells Pending -> Ready"
    assert "ScalingUp" in _reasons(_rollout(_Dropping({"ReplicaStarted"}, {"modeldeployment": 2})))
    w = _world(None)  # replicas started, then ready, one message each: the progress is told as before
    assert _reasons(w)[-1] == "Converged" and w.states[CHAT].status.fields["readyReplicas"] == 3
    w.apply(CHAT, deployment_spec(1), 2)  # a scale-down is told at once
    w.run()
    assert _told(w).count(ScaleDownStarted) == 1 and "ScalingDown" in _reasons(w)
    assert w.states[CHAT].status.fields["readyReplicas"] == 1


def test_a_rollout_nobody_reports_on_says_scaling_up_once_the_hold_is_over() -> None:
    w = _Dropping({"ReplicaStarted", "ReplicaReady"})
    w.apply(POOL, pool_spec(8), 1, created=True)
    w.run()
    w.apply(CHAT, deployment_spec(3), 1, created=True)
    w.deliver_all()  # the replicas are ordered; the driver never says a word
    chat = w.actor(CHAT.token)
    assert _reasons(w) == [] and len(w.running["infra/p"]) == 3
    wake = w.wakes[CHAT.token]  # what the host's timer holds for it
    assert wake is not None and wake <= w.now + HOLD
    w.now = wake
    w.decide(chat)  # the timer fires
    assert _reasons(w) == ["ScalingUp"]
    status = w.states[CHAT].status
    assert status.fields["replicasByPool"] == {"infra/p": 3} and status.fields["readyReplicas"] == 0


def test_behaviour_2_tells_a_scale_up_by_its_statuses() -> None:
    w = _world(2)
    told = _told(w)
    assert ScaleUpStarted not in told and ScaleUpCompleted not in told
    assert "ScalingUp" in _reasons(w) and _reasons(w)[-1] == "Converged"


def test_behaviour_1_writes_the_narration_as_before() -> None:
    w = _world(1)
    told = _told(w)
    assert told.count(ScaleUpStarted) == 1 and told.count(ScaleUpCompleted) == 1
    assert w.states[CHAT].status.phase == "Ready"


def test_each_decision_records_its_behaviour() -> None:
    recorded = {decode_context(m.headers[H.CONTEXT], {}).behaviour for m in _world(None).log
                if m.owner == CHAT and H.CONTEXT in m.headers}
    assert recorded == {3}
    older = [m for m in _world(1).log if m.owner == CHAT and H.CONTEXT in m.headers]
    assert older and all('"behaviour"' not in m.headers[H.CONTEXT] for m in older)  # as Bosun wrote it before


def test_replay_check_holds_either_behaviour_and_an_upgrade_midway() -> None:
    for w in (_world(None), _world(2), _world(1)):
        decisions, divergences = checked(w.stored())
        assert divergences == [] and decisions > 5
    w = _world(1)  # written by an older Bosun, then scaled by today's
    w.behaviours.clear()
    w.apply(CHAT, deployment_spec(5), 2)
    w.run()
    w.apply(CHAT, deployment_spec(2), 3)
    w.run()
    assert w.states[CHAT].status.fields["readyReplicas"] == 2
    decisions, divergences = checked(w.stored())
    assert divergences == [] and decisions > 10


def test_a_check_with_the_wrong_behaviour_diverges() -> None:
    """The check can fail: a history of behaviour 1 whose decisions claim behaviour 2 is not what today's
    decide writes for them."""
    w = _world(1)
    for m in w.log:
        if m.owner == CHAT and H.CONTEXT in m.headers:
            m.headers[H.CONTEXT] = m.headers[H.CONTEXT].replace("{", '{"behaviour":2,', 1)
    _, divergences = checked(w.stored())
    assert divergences
