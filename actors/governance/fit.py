"""How many replicas a namespace's Quota leaves one deployment: the grant rule of the quota ledger (pure).

Given the Quota's limits (`gpus`, `replicas`, `costPerHour`), what the *other* deployments of the namespace
hold now, the deployment's GPUs per replica and its pool price, `fit` returns the largest replica count
not above `wanted` that keeps every limit, and — when that is below `wanted` — the binding limit as the
text `ScaleSet.limit` carries ("quota gpus: used 6, wanted 10, limit 8"), so the deployment's
`ScalingLimited` condition and the autoscaler's `ScaleRecommended.reason` say which limit stopped it, with
used / wanted / limit (`core.scale.limit_reason` maps the text to the condition's reason). See docs/internals.md,
"Autoscaler and quota", for the ledger protocol this rule is meant to run in.
"""
from __future__ import annotations

import math

import msgspec

from actors.quotas import QuotaLimits


class Held(msgspec.Struct, frozen=True):
    """What deployments hold now (replicas, GPUs, spend rate): the ledger's per-deployment usage, summed."""

    replicas: int = 0
    gpus: int = 0
    cost_per_hour: float = 0.0


class Fit(msgspec.Struct, frozen=True):
    replicas: int
    limit: str = ""
    """Empty when `wanted` fits; else the binding limit with used / wanted / limit."""


def fit(wanted: int, limits: QuotaLimits, others: Held, gpus_per_replica: int, price_per_gpu_hour: float) -> Fit:
    """The most replicas (<= wanted, >= 0) that keep `others` plus this deployment within every limit."""
    caps: list[tuple[int, str]] = []
    if limits.replicas is not None:
        n = max(0, limits.replicas - others.replicas)
        caps.append((n, f"quota replicas: used {others.replicas}, wanted {others.replicas + wanted}, "
                        f"limit {limits.replicas}"))
    if limits.gpus is not None:
        n = max(0, (limits.gpus - others.gpus) // gpus_per_replica)
        caps.append((n, f"quota gpus: used {others.gpus}, wanted {others.gpus + wanted * gpus_per_replica}, "
                        f"limit {limits.gpus}"))
    per_replica = gpus_per_replica * price_per_gpu_hour
    if limits.cost_per_hour is not None and per_replica > 0:
        n = max(0, math.floor((limits.cost_per_hour - others.cost_per_hour) / per_replica + 1e-9))
        caps.append((n, f"budget costPerHour: used {others.cost_per_hour:g}, "
                        f"wanted {others.cost_per_hour + wanted * per_replica:g}, limit {limits.cost_per_hour:g}"))
    binding = [c for c in caps if c[0] < wanted]
    if not binding:
        return Fit(replicas=wanted)
    n, why = min(binding, key=lambda c: c[0])
    return Fit(replicas=n, limit=why)

