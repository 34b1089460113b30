"""The autoscaler's pure core: given events, when `now`, then its recommendation (HPA semantics)."""
from __future__ import annotations

from typing import Any

from actors.autoscaler.events import ScaleRecommended
from actors.autoscaler.kind import AUTOSCALER
from actors.decisions import Context
from core.events import Event, SpecApplied
from core.names import Ref
from core.replicas import LoadObserved
from core.scale import ScaleSet

REF = Ref("modeldeployment", "team-a", "chat")
model = AUTOSCALER.compiled  # the autoscaler as the runtime runs it


def spec(**autoscaling: Any) -> SpecApplied:
    bounds = {"min": 1, "max": 5, "targetLoadPerReplica": 50, "scaleDownStabilizationSeconds": 60, **autoscaling}
    return SpecApplied(generation=1, created=True, spec={"model": "m", "replicas": 1, "autoscaling": bounds,
                                                         "placement": {"region": "r", "gpu": "g"}})


class Scaler:
    """Folds the autoscaler's own writes back, as the host does after they are acked."""

    def __init__(self, *events: Event) -> None:
        self.state = model.initial(REF)
        for e in events:
            self.state = model.evolve(self.state, e)

    def load(self, rps: float, now: float) -> tuple[Event, ...]:
        self.state = model.evolve(self.state, LoadObserved(rps=rps))
        return self.tick(now)

    def tick(self, now: float) -> tuple[Event, ...]:
        d = model.decide(self.state, now, Context())
        for e in d.events:
            self.state = model.evolve(self.state, e)
        self.wake = d.wake_at
        return d.events

    @property
    def replicas(self) -> int | None:
        return self.state.current


def test_no_load_no_recommendation() -> None:
    s = Scaler(spec())
    assert s.tick(100.0) == ()


def test_scales_up_at_once_to_ceil_load_over_target() -> None:
    s = Scaler(spec())
    events = s.load(240, 100.0)
    assert [type(e) for e in events] == [ScaleRecommended, ScaleSet]
    assert s.replicas == 5 and events[1] == ScaleSet(replicas=5, by="autoscaler", wanted=5)


def test_stops_at_max_and_says_so() -> None:
    s = Scaler(spec())
    events = s.load(1000, 100.0)
    assert events[-1] == ScaleSet(replicas=5, by="autoscaler", wanted=20, limit="autoscaling.max 5")


def test_scales_down_only_after_the_window() -> None:
    s = Scaler(spec())
    s.load(240, 100.0)
    held = s.load(60, 110.0)
    assert s.replicas == 5 and isinstance(held[0], ScaleRecommended) and held[0].raw == 2
    assert "held by the scale-down window" in held[0].reason
    assert s.wake == 170.0  # the high recommendation held until 110 leaves the 60 s window then
    assert s.tick(150.0) == () and s.replicas == 5
    assert s.tick(170.0)[-1] == ScaleSet(replicas=2, by="autoscaler", wanted=2)


def test_a_dip_inside_the_window_does_not_flap() -> None:
    s = Scaler(spec())
    s.load(240, 100.0)
    s.load(40, 110.0)
    s.load(240, 120.0)
    assert s.replicas == 5
    assert s.tick(200.0) == () and s.replicas == 5


def test_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    s = Scaler(spec(scaleUpStabilizationSeconds=30))
    s.load(50, 100.0)
    assert s.replicas == 1
    s.load(240, 110.0)
    assert s.replicas == 1 and s.wake == 140.0
    assert s.tick(140.0)[-1].replicas == 5  # type: ignore[attr-defined]


def test_without_autoscaling_nothing_happens() -> None:
    s = Scaler(SpecApplied(generation=1, created=True, spec={"model": "m", "replicas": 3,
                                                             "placement": {"region": "r", "gpu": "g"}}))
    assert s.load(500, 100.0) == ()
