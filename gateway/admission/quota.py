"""Namespace quotas, race-free without locks: JetStream itself serializes the check.

Admission of an apply of a *governed* kind (one that declares a usage, `core.usage`) in a namespace with a
Quota:
1. ONE consistent snapshot (`Log.last_per_subject`) of the last spec event of every resource of the
   namespace (governed workloads and Quotas among them);
2. usage = what every live workload *may* consume (its kind's `usage` hook); the request is charged only
   its difference (new minus old), so a change that does not grow always passes and a deletion releases
   everything;
3. the SpecApplied is appended with `Nats-Expected-Last-Subject-Sequence` = the highest sequence among
   those specs and `...-Subject` = `bosun.ev.*.<ns>.*.spec`: JetStream accepts it only if NO spec in the
   namespace changed since the snapshot. A concurrent writer in any gateway process makes one of the two
   fail with wrong-last-sequence; the loser re-reads and re-checks against the new usage. So the sum of
   admitted usage can never pass the limit, whichever kinds the workloads are.
"""
from __future__ import annotations

from dataclasses import dataclass

import msgspec
import structlog

from actors.controller import Registry
from actors.governance.kinds import QUOTA
from actors.governance.specs import QuotaSpec
from core import subjects
from core.events import SpecApplied
from core.kinds import KindInfo
from core.log import Log, StoredMessage, Unavailable
from core.metrics import POISONED
from core.names import Ref
from core.usage import Prices
from gateway.envelope import event_of
from gateway.errors import ApiError, ErrorDetail

RESOURCES = ("gpus", "replicas", "deployments", "cost_per_hour")
API_NAMES = {"cost_per_hour": "costPerHour"}
QUOTA_KIND = QUOTA.info.key
_log = structlog.get_logger("bosun.admission")


@dataclass(frozen=True)
class Charge:
    """What workloads are charged against a Quota's limits (`deployments` counts workloads)."""

    gpus: int = 0
    replicas: int = 0
    deployments: int = 0
    cost_per_hour: float = 0.0

    def __add__(self, other: Charge) -> Charge:
        return Charge(self.gpus + other.gpus, self.replicas + other.replicas, self.deployments + other.deployments,
                      self.cost_per_hour + other.cost_per_hour)

    def __sub__(self, other: Charge) -> Charge:
        return Charge(self.gpus - other.gpus, self.replicas - other.replicas, self.deployments - other.deployments,
                      self.cost_per_hour - other.cost_per_hour)


def governs(info: KindInfo) -> bool:
    """True for a kind Quotas charge: one that declares a usage."""
    return info.usage is not None


@dataclass(frozen=True)
class Snapshot:
    """A namespace's workload specs and quotas, as of one stream sequence."""

    registry: Registry
    workloads: dict[tuple[str, str], StoredMessage]
    """Last spec message per governed resource: (kind key, name) -> message."""
    quotas: list[QuotaSpec]
    expected: int
    """Highest sequence among the namespace's specs (0 when none): the namespace-wide expected sequence."""
    prices: Prices | None = None

    def usage(self) -> Charge:
        total = Charge()
        for (kind, _name), m in self.workloads.items():
            info = self.registry.kind(kind)
            event = event_of(info, m)
            total += charge(info, event.spec if isinstance(event, SpecApplied) else None, self.prices)
        return total

    def usage_of(self, info: KindInfo, spec: dict[str, object] | None) -> Charge:
        return charge(info, spec, self.prices)


def namespace_filter(namespace: str) -> str:
    """Every spec subject of the namespace: the fence of a governed apply."""
    return f"bosun.ev.*.{namespace}.*.spec"


def quotas_filter(namespace: str) -> str:
    return f"bosun.ev.{QUOTA_KIND}.{namespace}.*.spec"


async def last_and_governed(log: Log, ref: Ref) -> tuple[StoredMessage | None, bool]:
    """The last spec message of `ref`, and whether its namespace has (or had) a Quota: ONE consistent read,
    so an apply in an ungoverned namespace costs a single round trip before its append (and skips the
    snapshot of every workload). A Quota created concurrently is the same gap as a Quota edit racing an
    apply: that apply is judged against the limits it could see."""
    spec = subjects.spec(ref)
    try:
        messages, _upto = await log.last_per_subject([quotas_filter(ref.namespace), spec])
    except Unavailable:
        # Nobody answered the direct get: the replica it went to died with it, or cannot answer now (and a
        # server hands it to its own replica first, so asking again asks the same one). The leader can.
        last = await log.last(spec, leader=True)
        return last, await log.last(quotas_filter(ref.namespace), leader=True) is not None
    last = next((m for m in messages if m.subject == spec), None)
    return last, any(m.subject != spec for m in messages)


async def snapshot(log: Log, namespace: str, registry: Registry) -> Snapshot:
    messages, _upto = await log.last_per_subject([namespace_filter(namespace)])
    workloads: dict[tuple[str, str], StoredMessage] = {}
    quotas: list[QuotaSpec] = []
    for m in messages:
        kind, name = m.subject.split(".")[2], m.subject.split(".")[4]
        info = registry.resolve(kind)
        if info is None:
            continue
        if kind == QUOTA_KIND:
            event = event_of(info, m)
            if isinstance(event, SpecApplied):
                try:
                    quotas.append(msgspec.convert(event.spec, QuotaSpec))
                except msgspec.ValidationError as e:  # stored before today's rules: skipped, loudly
                    POISONED.labels("admission", "quota").inc()
                    _log.error("stored Quota does not decode; not enforced", subject=m.subject, error=str(e))
        elif governs(info):
            workloads[(kind, name)] = m
    expected = max((m.seq for m in messages), default=0)
    priced = any(q.limits.cost_per_hour is not None for q in quotas)
    return Snapshot(registry, workloads, quotas, expected, await prices(log, registry, namespace) if priced else None)


async def prices(log: Log, registry: Registry, namespace: str | None = None) -> Prices:
    """GPU prices from the last spec of every resource whose kind supplies GPUs (the pools), for workloads of
    `namespace` (None: any): a pool that cannot take the namespace's replicas cannot price them either."""
    suppliers = registry.suppliers()
    if not suppliers:
        return Prices()
    messages, _upto = await log.last_per_subject([f"bosun.ev.{info.key}.*.*.spec" for info in suppliers])
    offers = []
    for m in messages:
        _, _, kind, pool_ns, name, _ = m.subject.split(".")
        info = registry.kind(kind)
        event = event_of(info, m)
        try:
            supply = info.supply_of(event.spec) if isinstance(event, SpecApplied) else None
        except msgspec.ValidationError:  # a spec today's type refuses offers nothing
            continue
        if supply is not None:
            offers.append((f"{pool_ns}/{name}", supply))
    return Prices.of(offers, namespace)


def charge(info: KindInfo, spec: dict[str, object] | None, priced: Prices | None = None) -> Charge:
    """What a workload may consume at most (its kind's usage of `spec`), and what that costs per hour."""
    try:
        usage = info.usage_of(spec)
    except msgspec.ValidationError as e:  # stored before today's rules (e.g. an infinity become null)
        POISONED.labels("admission", "spec").inc()
        _log.error("stored spec does not decode; counted as one workload of no GPUs", kind=info.name, error=str(e))
        return Charge(deployments=1)
    if usage is None:
        return Charge()
    return Charge(usage.gpus, usage.replicas, 1, priced.cost_per_hour(usage) if priced else 0.0)


def check(quotas: list[QuotaSpec], used: Charge, old: Charge, new: Charge) -> None:
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
