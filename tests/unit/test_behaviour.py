"""Versioned decisions (`Kind.behaviour`): ModelDeployment's behaviour 2 tells a scale-up by its statuses alone
(two appends and four deliveries fewer per converged deployment, issue #27), behaviour 1 still writes
`deployment.scale-up-started`/`-completed`, each decision records the behaviour it ran with, and
`replay --check` holds both histories, and one that changes behaviour midway, against today's code."""
from __future__ import annotations

from actors.decisions import decode_context
from actors.modeldeployment.events import ScaleDownStarted, ScaleUpCompleted, ScaleUpStarted
from core import headers as H
from core.events import StatusUpdated
from core.names import Ref
from tests.conftest import REGISTRY
from tests.simworld import World, deployment_spec, pool_spec
from tests.unit.test_kernel_agreement import checked

POOL, CHAT = Ref("gpupool", "infra", "p"), Ref("modeldeployment", "team-a", "chat")


def _world(behaviour: int | None) -> World:
    w = World(seed=3, behaviours={"modeldeployment": behaviour} if behaviour else None)
    w.apply(POOL, pool_spec(8), 1, created=True)
    w.apply(CHAT, deployment_spec(3), 1, created=True)
    w.run()
    return w


def _told(w: World) -> list[type]:
    return [type(e) for ref, e in w.history if ref == CHAT and type(e) in (ScaleUpStarted, ScaleUpCompleted,
                                                                          ScaleDownStarted, StatusUpdated)]


def test_todays_deployment_tells_a_scale_up_by_its_statuses() -> None:
    w = _world(None)
    assert REGISTRY.controller_for("modeldeployment").behaviour == 2  # type: ignore[union-attr]
    told = _told(w)
    assert ScaleUpStarted not in told and ScaleUpCompleted not in told
    status = w.states[CHAT].status
    assert status.phase == "Ready" and status.fields["desiredReplicas"] == 3
    reasons = [e.conditions[0].reason for ref, e in w.history if ref == CHAT and isinstance(e, StatusUpdated)]
    assert "ScalingUp" in reasons and reasons[-1] == "Converged"
    w.apply(CHAT, deployment_spec(1), 2)
    w.run()
    assert _told(w).count(ScaleDownStarted) == 1 and w.states[CHAT].status.fields["readyReplicas"] == 1


def test_behaviour_1_writes_the_narration_as_before() -> None:
    w = _world(1)
    told = _told(w)
    assert told.count(ScaleUpStarted) == 1 and told.count(ScaleUpCompleted) == 1
    assert w.states[CHAT].status.phase == "Ready"


def test_each_decision_records_its_behaviour() -> None:
    recorded = {decode_context(m.headers[H.CONTEXT], {}).behaviour for m in _world(None).log
                if m.owner == CHAT and H.CONTEXT in m.headers}
    assert recorded == {2}
    older = [m for m in _world(1).log if m.owner == CHAT and H.CONTEXT in m.headers]
    assert older and all('"behaviour"' not in m.headers[H.CONTEXT] for m in older)  # as Bosun wrote it before


def test_replay_check_holds_either_behaviour_and_an_upgrade_midway() -> None:
    for w in (_world(None), _world(1)):
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
