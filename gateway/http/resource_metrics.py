"""Per-resource gauges, rendered from the read model at scrape time.

Why here and not in the projector: the read model is the durable, already-folded truth. Gauges kept in
the projector's memory would be empty after a restart until each resource changed again (it resumes from
its checkpoint), and would live in a different process than the API. Rendering at scrape time costs one
indexed scan (~10k rows in tens of milliseconds) and can never disagree with `bosun get`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

PHASES = ("Pending", "Progressing", "Ready", "Degraded", "Deleting")
LABELS = ["kind", "namespace", "name"]


Visible = Callable[[str, str], bool]
"""(kind key, namespace) -> whether the scraper may see that namespace's resources of that kind."""


async def exposition(reads: Any, visible: Visible = lambda _kind, _ns: True, consumers: Sequence[str] = ()) -> bytes:
    """The gauges of what `visible` lets the scraper see; a namespace's spend only when it may see the
    resources of every kind that spends (`consumers`: the kind keys that declare a usage)."""
    seen: dict[tuple[str, str], bool] = {}

    def shown(kind: str, namespace: str) -> bool:
        if (kind, namespace) not in seen:
            seen[kind, namespace] = visible(kind, namespace)
        return seen[kind, namespace]

    gauges = getattr(reads, "resource_gauges", None)
    if gauges is None:
        return b""
    registry = CollectorRegistry(auto_describe=False)
    desired = Gauge("bosun_desired_replicas", "Replicas the spec asks for", LABELS, registry=registry)
    ready = Gauge("bosun_ready_replicas", "Replicas observed ready", LABELS, registry=registry)
    phase = Gauge("bosun_resource_phase", "1 for the resource's current phase, 0 for the others",
                  [*LABELS, "phase"], registry=registry)
    for kind, namespace, name, current, want, have in await gauges():
        if not shown(kind, namespace):
            continue
        ids = (kind, namespace, name)
        if want is not None:
            desired.labels(*ids).set(want)
        if have is not None or want is not None:
            ready.labels(*ids).set(have or 0)
        for p in (*PHASES, *((current,) if current and current not in PHASES else ())):
            phase.labels(*ids, p).set(1 if p == current else 0)
    rates = getattr(reads, "cost_rates", None)
    if rates is not None:
        cost = Gauge("bosun_cost_per_hour", "GPU spend rate of the namespace's running replicas (per hour)",
                     ["namespace"], registry=registry)
        for namespace, rate in await rates():
            if all(shown(kind, namespace) for kind in consumers):
                cost.labels(namespace).set(rate)
    return generate_latest(registry)
