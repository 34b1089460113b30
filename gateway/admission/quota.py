"""Namespace quotas, race-free without locks: JetStream itself serializes the check.

Admission of a ModelDeployment apply in a namespace with a Quota:
1. ONE consistent snapshot (`Log.last_per_subject`) of the last spec event of every ModelDeployment and
   every Quota in the namespace;
2. usage = what every live deployment *may* grow to; the request is charged only its difference
   (new minus old), so a change that does not grow always passes and a deletion releases everything;
3. the SpecApplied is appended with `Nats-Expected-Last-Subject-Sequence` = the highest sequence among
   those deployment specs and `...-Subject` = `bosun.ev.modeldeployment.<ns>.*.spec`: JetStream
   accepts it only if NO deployment in the namespace changed since the snapshot. A concurrent writer
   in any gateway process makes one of the two fail with wrong-last-sequence; the loser re-reads and
   re-checks against the new usage. So the sum of admitted usage can never pass the limit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import structlog

from actors.capacity import admits
from actors.governance.specs import QuotaSpec
from actors.modeldeployment.spec import ModelDeploymentSpec
from core import kinds, subjects
from core.events import SpecApplied
from core.log import Log, StoredMessage
from core.metrics import POISONED
from core.names import Ref
from gateway.envelope import event_of
from gateway.errors import ApiError, ErrorDetail

KIND = "modeldeployment"
RESOURCES = ("gpus", "replicas", "deployments", "cost_per_hour")
API_NAMES = {"cost_per_hour": "costPerHour"}
_log = structlog.get_logger("bosun.admission")
Prices = dict[tuple[str, str], float]
"""(region, gpu) -> the highest pricePerGpuHour among matching pools: a deployment is charged as if
placed on the dearest pool it could land on, so placement can never take it past the budget."""


@dataclass(frozen=True)
class Usage:
    gpus: int = 0
    replicas: int = 0
    deployments: int = 0
    cost_per_hour: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.gpus + other.gpus, self.replicas + other.replicas, self.deployments + other.deployments,
                     self.cost_per_hour + other.cost_per_hour)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.gpus - other.gpus, self.replicas - other.replicas, self.deployments - other.deployments,
                     self.cost_per_hour - other.cost_per_hour)


@dataclass(frozen=True)
class Snapshot:
    """A namespace's deployment specs and quotas, as of one stream sequence."""

    deployments: dict[str, StoredMessage]
    """Last spec message per deployment name."""
    quotas: list[QuotaSpec]
    expected: int
    """Highest sequence among the deployment specs (0 when none): the namespace-wide expected sequence."""
    prices: Prices | None = None

    def usage(self, exclude: str | None = None) -> Usage:
        total = Usage()
        for name, m in self.deployments.items():
            if name != exclude:
                total += usage_of_message(m, self.prices)
        return total

    def usage_of(self, spec: dict[str, object] | None) -> Usage:
        return usage_of(spec, self.prices)


def deployments_filter(namespace: str) -> str:
    return f"bosun.ev.{KIND}.{namespace}.*.spec"


def quotas_filter(namespace: str) -> str:
    return f"bosun.ev.quota.{namespace}.*.spec"


POOLS_FILTER = "bosun.ev.gpupool.*.*.spec"


async def last_and_governed(log: Log, ref: Ref) -> tuple[StoredMessage | None, bool]:
    """The last spec message of `ref`, and whether its namespace has (or had) a Quota: ONE consistent read,
    so an apply in an ungoverned namespace costs a single round trip before its append (and skips the
    snapshot of every deployment). A Quota created concurrently is the same gap as a Quota edit racing an
    apply: that apply is judged against the limits it could see."""
    spec = subjects.spec(ref)
    messages, _upto = await log.last_per_subject([quotas_filter(ref.namespace), spec])
    last = next((m for m in messages if m.subject == spec), None)
    return last, any(m.subject != spec for m in messages)


async def snapshot(log: Log, namespace: str) -> Snapshot:
    messages, _upto = await log.last_per_subject([deployments_filter(namespace), quotas_filter(namespace)])
    deployments: dict[str, StoredMessage] = {}
    quotas: list[QuotaSpec] = []
    for m in messages:
        kind, name = m.subject.split(".")[2], m.subject.split(".")[4]
        if kind == KIND:
            deployments[name] = m
        elif kind == "quota":
            event = event_of(kinds.get("quota"), m)
            if isinstance(event, SpecApplied):
                try:
                    quotas.append(msgspec.convert(event.spec, QuotaSpec))
                except msgspec.ValidationError as e:  # stored before today's rules: skipped, loudly
                    POISONED.labels("admission", "quota").inc()
                    _log.error("stored Quota does not decode; not enforced", subject=m.subject, error=str(e))
    expected = max((m.seq for m in deployments.values()), default=0)
    priced = any(q.limits.cost_per_hour is not None for q in quotas)
    return Snapshot(deployments, quotas, expected, await prices(log, namespace) if priced else None)


async def prices(log: Log, namespace: str | None = None) -> Prices:
    """The highest pricePerGpuHour per (region, gpu) over the last spec of every pool admitting `namespace`
    (None: every pool). A pool that cannot take the namespace's replicas cannot price them either."""
    messages, _upto = await log.last_per_subject([POOLS_FILTER])
    out: Prices = {}
    for m in messages:
        event = event_of(kinds.get("gpupool"), m)
        if not isinstance(event, SpecApplied):
            continue
        spec, own = event.spec, m.subject.split(".")[3]
        listed = spec.get("namespaces") or []
        if namespace is not None and not admits(own, listed if isinstance(listed, list) else [], namespace):
            continue
        price = spec.get("pricePerGpuHour", 0.0) or 0.0
        if isinstance(price, (int, float)) and math.isfinite(price):
            key = (str(spec.get("region", "")), str(spec.get("gpu", "")))
            out[key] = max(out.get(key, 0.0), float(price))
    return out


def usage_of(spec: dict[str, object] | None, priced: Prices | None = None) -> Usage:
    """What a deployment may grow to: gpusPerReplica x max(replicas, autoscaling.max), and what those GPUs
    cost per hour on the dearest pool matching its placement."""
    if spec is None:
        return Usage()
    try:
        typed = msgspec.convert(spec, ModelDeploymentSpec)
    except msgspec.ValidationError as e:  # stored before today's rules (e.g. an infinity become null)
        POISONED.labels("admission", "spec").inc()
        _log.error("stored spec does not decode; counted as one deployment of no GPUs", error=str(e))
        return Usage(deployments=1)
    gpus = typed.gpus_per_replica * typed.max_replicas
    price = (priced or {}).get((typed.placement.region, typed.placement.gpu), 0.0)
    return Usage(gpus, typed.max_replicas, 1, gpus * price)


def usage_of_message(m: StoredMessage, priced: Prices | None = None) -> Usage:
    event = event_of(kinds.get(KIND), m)
    return usage_of(event.spec, priced) if isinstance(event, SpecApplied) else Usage()


def check(quotas: list[QuotaSpec], used: Usage, old: Usage, new: Usage) -> None:
    """Raise 403 QuotaExceeded when growing from `old` to `new` passes a limit (`used` includes `old`)."""
    delta = new - old
    for quota in quotas:
        for resource in RESOURCES:
            limit = getattr(quota.limits, resource)
            grow = getattr(delta, resource)
            if limit is None or grow <= 0:
                continue
            now = getattr(used, resource)
            if now + grow > limit + 1e-9:
                raise quota_exceeded(API_NAMES.get(resource, resource), now, grow, limit)


def quota_exceeded(resource: str, used: float, requested: float, limit: float) -> ApiError:
    message = f"quota exceeded: {resource} used {used:g} + requested {requested:g} > limit {limit:g}"
    return ApiError(403, "QuotaExceeded", message, [
        ErrorDetail("resource", resource), ErrorDetail("used", f"{used:g}"),
        ErrorDetail("requested", f"{requested:g}"), ErrorDetail("limit", f"{limit:g}")])
