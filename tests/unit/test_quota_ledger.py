"""The quota ledger and the autoscaler's asks (pure): wired together the way the host routes them (requests
folded by the ledger and by their sender, answers by the ledger and every requester they notify)."""
from __future__ import annotations

from typing import Any

from actors.autoscaler.kind import AUTOSCALER
from actors.capacity import PoolView
from actors.decisions import Context
from actors.governance.kinds import QUOTA as QUOTA_KIND
from actors.quotas import QuotaAnswered, QuotaGranted, QuotaRequested
from core.events import DeletionRequested, Event, SpecApplied, StatusUpdated
from core.names import Ref
from core.replicas import LoadObserved
from core.scale import ScaleSet

QUOTA = Ref("quota", "team-a", "q")
ledger = QUOTA_KIND.compiled
scaler = AUTOSCALER.compiled
assert ledger is not None


def dep_spec(name: str, gpus: int = 1) -> SpecApplied:
    return SpecApplied(generation=1, created=True, spec={
        "model": "m", "replicas": 1, "gpusPerReplica": gpus, "placement": {"region": "r", "gpu": "g"},
        "autoscaling": {"min": 1, "max": 10, "targetLoadPerReplica": 10, "scaleDownStabilizationSeconds": 0}})


class World:
    def __init__(self, limits: dict[str, Any]) -> None:
        self.ledger = ledger.evolve(ledger.initial(QUOTA), SpecApplied(generation=1, created=True,
                                                                       spec={"limits": limits}))
        self.scalers: dict[str, Any] = {}
        self.answers: list[QuotaAnswered] = []

    def ctx(self) -> Context:
        view = ledger.view(self.ledger)
        return Context(views={"quota": (view,)} if view else {})

    def add(self, name: str, gpus: int = 1) -> str:
        ref = Ref("modeldeployment", "team-a", name)
        self.scalers[ref.token] = scaler.evolve(scaler.initial(ref), dep_spec(name, gpus))
        return ref.token

    def to(self, token: str, event: Event, now: float = 100.0) -> None:
        self.scalers[token] = scaler.evolve(self.scalers[token], event)
        self.run(token, now)

    def run(self, token: str, now: float) -> None:
        d = scaler.decide(self.scalers[token], now, self.ctx())
        for e in d.events:
            self.scalers[token] = scaler.evolve(self.scalers[token], e)
        for m in d.messages:
            self.scalers[token] = scaler.evolve(self.scalers[token], m.event)
            self.ledger = ledger.evolve(self.ledger, m.event)
        if d.messages:
            self.settle(now)

    def settle(self, now: float) -> None:
        d = ledger.decide(self.ledger, now, Context())
        for e in d.events:
            if isinstance(e, StatusUpdated):  # the Quota's own status: Ready at its generation
                self.ledger = ledger.evolve(self.ledger, e)
                continue
            assert isinstance(e, QuotaAnswered)
            self.answers.append(e)
            self.ledger = ledger.evolve(self.ledger, e)
            for token in e.notify().split(","):
                if token in self.scalers:
                    self.to(token, e, now)

    def limits(self, limits: dict[str, Any], now: float = 200.0) -> None:
        self.ledger = ledger.evolve(self.ledger, SpecApplied(generation=2, spec={"limits": limits}))
        self.settle(now)

    def scale(self, token: str) -> tuple[int | None, str]:
        return self.scalers[token].current, self.scalers[token].limit


def test_scale_up_runs_what_the_quota_grants_and_says_why() -> None:
    w = World({"gpus": 4})
    a = w.add("a")
    w.to(a, LoadObserved(rps=80))
    assert w.scale(a) == (4, "quota gpus: used 0, wanted 8, limit 4")
    reason = next(e for e in w.answers[-1].answers if e.requester == a)
    assert reason == QuotaGranted(request_id=1, requester=a, quota="q", replicas=4, wanted=8,
                                  limit="quota gpus: used 0, wanted 8, limit 4")


def test_two_deployments_share_the_quota_and_a_scale_down_frees_room() -> None:
    w = World({"replicas": 6})
    a, b = w.add("a"), w.add("b")
    w.to(a, LoadObserved(rps=40))
    w.to(b, LoadObserved(rps=50))
    assert w.scale(a) == (4, "") and w.scale(b) == (2, "quota replicas: used 4, wanted 9, limit 6")
    w.to(a, LoadObserved(rps=10), now=300.0)
    assert w.scale(a) == (1, "") and w.scale(b) == (5, "")


def test_lowering_the_quota_takes_replicas_back_and_raising_gives_them() -> None:
    w = World({"gpus": 12})
    a = w.add("a", gpus=2)
    w.to(a, LoadObserved(rps=50))
    assert w.scale(a) == (5, "")
    w.limits({"gpus": 6})
    assert w.scale(a) == (3, "quota gpus: used 0, wanted 10, limit 6")
    w.limits({"gpus": 20})
    assert w.scale(a) == (5, "")


def test_budget_counts_the_dearest_matching_pool() -> None:
    w = World({"costPerHour": 10.0})
    a = w.add("a")
    w.scalers[a] = scaler.evolve(w.scalers[a], LoadObserved(rps=100))
    pool = PoolView(ref=Ref("gpupool", "infra", "p"), region="r", gpu="g", capacity=8, allocated=0,
                    price_per_gpu_hour=3.0)
    elsewhere = PoolView(ref=Ref("gpupool", "other", "dear"), region="r", gpu="g", capacity=8, allocated=0,
                         price_per_gpu_hour=300.0, namespaces=())  # admits only its own namespace: not priced
    views = {"quota": (ledger.view(w.ledger),), "gpupool": (pool, elsewhere)}
    d = scaler.decide(w.scalers[a], 100.0, Context(views=views))
    [ask] = d.messages
    assert isinstance(ask.event, QuotaRequested) and ask.event.price_per_gpu_hour == 3.0
    w.ledger = ledger.evolve(w.ledger, ask.event)
    [answered] = [e for e in ledger.decide(w.ledger, 100.0, Context()).events if isinstance(e, QuotaAnswered)]
    assert isinstance(answered, QuotaAnswered)
    assert answered.answers[0].replicas == 3
    assert answered.answers[0].limit == "budget costPerHour: used 0, wanted 30, limit 10"


def test_a_scale_up_waits_for_the_answer_a_scale_down_does_not() -> None:
    w = World({"gpus": 10})
    a = w.add("a")
    w.scalers[a] = scaler.evolve(w.scalers[a], LoadObserved(rps=50))
    d = scaler.decide(w.scalers[a], 100.0, w.ctx())
    assert [e.replicas for e in d.events if isinstance(e, ScaleSet)] == [1]  # holds its count until granted
    w.run(a, 100.0)
    assert w.scale(a) == (5, "")
    w.scalers[a] = scaler.evolve(w.scalers[a], LoadObserved(rps=20))
    d = scaler.decide(w.scalers[a], 200.0, w.ctx())
    assert [e.replicas for e in d.events if isinstance(e, ScaleSet)] == [2] and len(d.messages) == 1


def test_deletion_releases_what_was_held_and_redelivery_is_harmless() -> None:
    w = World({"gpus": 10})
    a = w.add("a")
    w.to(a, LoadObserved(rps=50))
    request = QuotaRequested(request_id=1, requester=a, quota="q", replicas=5)
    assert ledger.evolve(w.ledger, request) == w.ledger  # answered already: never queued again
    w.to(a, DeletionRequested(generation=1))
    assert w.ledger.holdings == {} and w.ledger.pending == ()
    assert scaler.decide(w.scalers[a], 300.0, w.ctx()).messages == ()


def test_a_deployment_without_autoscaling_is_counted_from_its_report() -> None:
    from actors.modeldeployment.kind import MODELDEPLOYMENT

    deployment = MODELDEPLOYMENT.compiled
    assert deployment is not None

    w = World({"gpus": 5})
    static = Ref("modeldeployment", "team-a", "batch")
    d = deployment.evolve(deployment.initial(static), SpecApplied(generation=1, created=True, spec={
        "model": "m", "replicas": 2, "placement": {"region": "r", "gpu": "g"}}))
    [report] = deployment.decide(d, 100.0, w.ctx()).messages
    assert isinstance(report.event, QuotaRequested) and report.event.fixed and report.event.replicas == 2
    d = deployment.evolve(d, report.event)
    assert deployment.decide(d, 101.0, w.ctx()).messages == ()  # reported once, until it changes
    w.ledger = ledger.evolve(w.ledger, report.event)
    w.settle(100.0)
    a = w.add("a")
    w.to(a, LoadObserved(rps=80))
    assert w.scale(a) == (3, "quota gpus: used 2, wanted 10, limit 5")
    w.limits({"gpus": 1})  # a report is never taken back (admission admitted it); the autoscaler is
    assert w.scale(a) == (0, "quota gpus: used 2, wanted 10, limit 1")
    assert w.ledger.holdings[static.token].replicas == 2


def test_an_autoscaled_deployment_is_counted_before_its_first_load_observation() -> None:
    w = World({"replicas": 3})
    a, b = w.add("a"), w.add("b")
    w.run(a, 100.0)  # no load yet: it asks for the count it runs (its spec's replicas)
    assert w.ledger.holdings[a].replicas == 1 and w.scale(a) == (None, "")
    w.to(b, LoadObserved(rps=50))
    assert w.scale(b) == (2, "quota replicas: used 1, wanted 6, limit 3")


def test_the_quota_reads_ready_at_each_generation_once() -> None:
    w = World({"gpus": 4})
    first = [e for e in ledger.decide(w.ledger, 1.0, Context()).events if isinstance(e, StatusUpdated)]
    assert [(e.phase, e.observed_generation) for e in first] == [("Ready", 1)]
    w.ledger = ledger.evolve(w.ledger, first[0])
    assert ledger.decide(w.ledger, 2.0, Context()).events == ()  # written once, not on every decide
    w.ledger = ledger.evolve(w.ledger, SpecApplied(generation=2, spec={"limits": {"gpus": 2}}))
    again = [e for e in ledger.decide(w.ledger, 3.0, Context()).events if isinstance(e, StatusUpdated)]
    assert [e.observed_generation for e in again] == [2] and ledger.status_of(w.ledger) == first[0]
