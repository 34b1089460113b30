"""The quota ledger's grant rule (pure): never beyond quota or budget, and say which limit, with
used / wanted / limit; the deployment's ScalingLimited reason follows the limit's kind."""
from __future__ import annotations

import msgspec

from actors.governance.fit import Fit, Held, fit
from actors.governance.specs import QuotaLimits
from actors.modeldeployment.spec import ModelDeploymentSpec
from actors.modeldeployment.state import Deployment
from actors.modeldeployment.status import _limited
from core.scale import ScaleSet, limit_reason


def test_within_every_limit_fits_unlimited() -> None:
    assert fit(4, QuotaLimits(gpus=8, replicas=10, cost_per_hour=100.0), Held(2, 2, 4.0), 1, 2.0) == Fit(4)
    assert fit(7, QuotaLimits(deployments=3), Held(), 1, 1.0) == Fit(7)


def test_stops_at_gpu_quota_given_the_other_deployments() -> None:
    got = fit(10, QuotaLimits(gpus=8), Held(replicas=3, gpus=6), 1, 0.0)
    assert got == Fit(2, "quota gpus: used 6, wanted 16, limit 8")


def test_gpu_quota_counts_gpus_per_replica() -> None:
    assert fit(5, QuotaLimits(gpus=9), Held(gpus=2), 2, 0.0).replicas == 3


def test_stops_at_replica_quota() -> None:
    got = fit(6, QuotaLimits(replicas=5, gpus=100), Held(replicas=2, gpus=2), 1, 0.0)
    assert got == Fit(3, "quota replicas: used 2, wanted 8, limit 5")


def test_stops_at_budget() -> None:
    got = fit(6, QuotaLimits(cost_per_hour=10.0), Held(cost_per_hour=4.0), 1, 2.0)
    assert got == Fit(3, "budget costPerHour: used 4, wanted 16, limit 10")


def test_free_pools_cost_nothing_against_the_budget() -> None:
    assert fit(6, QuotaLimits(cost_per_hour=0.0), Held(), 1, 0.0) == Fit(6)


def test_lowered_quota_below_what_others_hold_allows_none() -> None:
    assert fit(3, QuotaLimits(gpus=4), Held(gpus=6), 1, 0.0) == Fit(0, "quota gpus: used 6, wanted 9, limit 4")


def test_the_tightest_limit_binds() -> None:
    got = fit(8, QuotaLimits(gpus=6, replicas=20, cost_per_hour=6.0), Held(), 1, 2.0)
    assert got.replicas == 3 and got.limit.startswith("budget costPerHour")


def test_condition_reason_follows_the_limit() -> None:
    assert limit_reason("autoscaling.max 5") == "TooManyReplicas"
    assert limit_reason("quota gpus: used 6, wanted 16, limit 8") == "QuotaExceeded"
    assert limit_reason("budget costPerHour: used 4, wanted 16, limit 10") == "BudgetExceeded"
    spec = msgspec.convert({"model": "m", "replicas": 1, "placement": {"region": "r", "gpu": "g"},
                            "autoscaling": {"min": 1, "max": 20}}, ModelDeploymentSpec)
    scale = ScaleSet(replicas=2, by="autoscaler", wanted=10, limit="quota gpus: used 6, wanted 16, limit 8")
    [cond] = _limited(Deployment(scale=scale), spec)
    assert (cond.type, cond.reason) == ("ScalingLimited", "QuotaExceeded")
    assert cond.message == "autoscaler wants 10 replicas; 2 allowed by quota gpus: used 6, wanted 16, limit 8"
