"""What-if runs companion controllers too (pure): a plan includes the autoscaler's recommendation at the
load it last observed, and the deployment following it."""
from __future__ import annotations

from typing import Any

from actors.autoscaler.kind import AUTOSCALER
from analysis.whatif import outcome
from analysis.whatif.planner import Intent, Settings, simulate
from core.events import SpecApplied
from core.names import Ref
from core.replicas import LoadObserved
from tests.simworld import pool_spec

POOL = Ref("gpupool", "infra", "usw2-a100")
CHAT = Ref("modeldeployment", "team-a", "chat")


def autoscaled(target: int) -> dict[str, Any]:
    return {"model": "llama-3-8b", "replicas": 1, "placement": {"region": "us-west-2", "gpu": "a100"},
            "autoscaling": {"min": 1, "max": 5, "targetLoadPerReplica": target}}


def test_a_plan_includes_the_autoscalers_recommendation_at_the_current_load() -> None:
    settings = Settings(latency=0.05, seed=0)
    base = simulate({}, {}, 1_000.0, 1, [Intent(POOL, SpecApplied(generation=1, spec=pool_spec(8), created=True)),
                                         Intent(CHAT, SpecApplied(generation=1, spec=autoscaled(100), created=True))],
                    settings)
    [(actor, state)] = base.companions.items()
    assert actor == (CHAT, "autoscaler") and state.bounds is not None
    loaded = {actor: AUTOSCALER.compiled.evolve(state, LoadObserved(rps=140))}  # what the live autoscaler last observed
    sim = simulate(base.after, {}, 2_000.0, 100, [Intent(CHAT, SpecApplied(generation=2, spec=autoscaled(50)))],
                   settings, companions=loaded)
    predicted = outcome.predicted(CHAT, sim.after[CHAT])
    assert predicted.fields.get("desiredReplicas") == 3 and predicted.phase == "Ready"
    steps = outcome.steps_of(CHAT, sim.result.timeline)
    assert any(s.type == "scale.set" and s.by == "modeldeployment/team-a/chat (autoscaler)" for s in steps), steps
