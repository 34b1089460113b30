"""The scale input: how any scaler tells a resource how many replicas to run (Kubernetes' `/scale`).

A scaler appends `ScaleSet` on its own ctl slice of the target resource (the autoscaler on
`ctl.autoscaler`); the target's controller folds the latest one and converges to it, inside the bounds of
its own spec. The deployment controller knows nothing else about who scales it, so another scaler can
replace the autoscaler without touching the deployment's logic.
"""
from __future__ import annotations

from core.events import Event


class ScaleSet(Event, frozen=True, tag="scale.set"):
    replicas: int
    by: str = ""
    """The scaler (its controller name)."""
    wanted: int = 0
    """What the scaler would have set without `limit` (equal to `replicas` when nothing limits it)."""
    limit: str = ""
    """Why `replicas` is below `wanted`, e.g. "autoscaling.max 5"; empty when not limited. A namespace
    Quota limit starts with "quota " ("quota gpus: used 6, wanted 10, limit 8"), its cost budget with
    "budget " (see `limit_reason`)."""

    def summary(self) -> str:
        capped = f" (wants {self.wanted}, limited by {self.limit})" if self.limit else ""
        return f"scale set to {self.replicas} replicas by {self.by or 'a scaler'}{capped}"


def limit_reason(limit: str) -> str:
    """The `ScalingLimited` condition reason for a `ScaleSet.limit` text."""
    if limit.startswith("quota "):
        return "QuotaExceeded"
    if limit.startswith("budget "):
        return "BudgetExceeded"
    return "TooManyReplicas"
