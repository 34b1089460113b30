"""The quota protocol between workloads and a namespace's Quota: requests on the Quota's inbox, answers
on its ctl slice (`ctl.quotas`), like GpuPool capacity (`actors.capacity`).

The Quota's ledger actor is the one writer of what each autoscaled deployment of the namespace may run,
so two autoscalers can never both take the last GPU. Requests carry absolute targets (idempotent); an
answer may grant less than asked and says which limit bound it. The ledger also re-answers a holder on
its own when the Quota's limits change (a lowered Quota takes replicas back, a raised one gives them).

Every resource whose kind declares a fixed usage (`core.usage.Usage`, not elastic) reports it to each
Quota of its namespace (`reports`, sent by the runtime for the kind), so the ledger counts it when
autoscalers ask: "never beyond quota" given every other workload, not only the autoscaled ones.
"""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from actors.capacity import POOL_KIND, pool_key
from actors.decisions import Context, Message
from core.events import Event
from core.names import Ref
from core.numbers import NonNegative
from core.usage import Usage

Limit = Annotated[int, Meta(ge=0, le=100_000_000)]
Rate = Annotated[float, Meta(ge=0, le=1e12)]
"""Upper bounds (finite, so sums of them stay finite): a figure past them is a typo or an attack."""

QUOTA_KIND = "quota"
"""The kind whose views (`QuotaView`) autoscalers read from their Context."""


class QuotaLimits(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True,
                  forbid_unknown_fields=True):
    gpus: Limit | None = None
    replicas: Limit | None = None
    deployments: Limit | None = None
    """How many workloads (resources whose kind declares a usage) the namespace may hold."""
    cost_per_hour: Rate | None = None
    """Namespace spend-rate limit: GPUs x their pool's pricePerGpuHour, at the most every workload may grow to."""


class QuotaView(msgspec.Struct, frozen=True, kw_only=True):
    """What an autoscaler may read of a Quota: that it exists, where, and its limits."""

    ref: Ref
    limits: QuotaLimits


class QuotaRequested(Event, frozen=True, tag="quota.requested"):
    request_id: int
    requester: str
    """Ref token of the workload."""
    quota: str
    """Name of the Quota asked (the requester folds its own request, keyed by it)."""
    replicas: int
    """Absolute target: the replicas the requester wants to run."""
    gpus_per_replica: int = 1
    price_per_gpu_hour: NonNegative = 0.0
    """The dearest matching pool's price, as admission charges it."""
    fixed: bool = False
    """A deployment without autoscaling reporting its spec's replicas (admitted already): held in full, so
    autoscalers are limited by what it uses. Its request ids are its own, apart from its autoscaler's."""

    def summary(self) -> str:
        what = "reports" if self.fixed else "asks for"
        return f"{self.requester} {what} {self.replicas} replicas (request {self.request_id})"


class QuotaGranted(Event, frozen=True, tag="quota.granted"):
    request_id: int
    """The requester's latest request (a re-answer after a limit change repeats it)."""
    requester: str
    quota: str
    """Name of the Quota answering (a namespace may have several)."""
    replicas: int
    wanted: int
    limit: str = ""
    """Empty when `wanted` was granted; else the binding limit (`actors.governance.fit`)."""
    gpus_per_replica: int = 1
    price_per_gpu_hour: NonNegative = 0.0
    """As requested: the ledger re-checks the holding with them when its limits change."""
    fixed: bool = False


class QuotaAnswered(Event, frozen=True, tag="quota.answered"):
    """Every answer of one ledger decision, as one event notifying every requester in it."""

    quota: str
    answers: tuple[QuotaGranted, ...]

    def notify(self) -> str:
        return ",".join(dict.fromkeys(a.requester for a in self.answers))

    def summary(self) -> str:
        parts = [f"{a.requester} {a.replicas}/{a.wanted}" + (f" ({a.limit})" if a.limit else "") for a in self.answers]
        return f"quota {self.quota} granted " + "; ".join(parts)


PROTOCOL: tuple[type[Event], ...] = (QuotaRequested, QuotaAnswered)


class Ask(msgspec.Struct, frozen=True):
    request_id: int
    replicas: int
    gpus_per_replica: int
    price_per_gpu_hour: float


class Asked(msgspec.Struct, frozen=True):
    """What one requester asked each Quota (by name) and was last granted (replicas, limit)."""

    asks: dict[str, Ask] = {}
    grants: dict[str, tuple[int, int, str]] = {}
    """Quota name -> (request id answered, replicas granted, binding limit or "")."""
    last_request: int = 0


def fold_request(q: Asked, event: QuotaRequested) -> Asked:
    ask = Ask(event.request_id, event.replicas, event.gpus_per_replica, event.price_per_gpu_hour)
    return Asked({**q.asks, event.quota: ask}, q.grants, max(q.last_request, event.request_id))


def quotas_of(ctx: Context, namespace: str) -> list[QuotaView]:
    return sorted((v for v in ctx.of(QUOTA_KIND) if v.ref.namespace == namespace), key=lambda v: v.ref.name)


def price_of(ctx: Context, region: str, gpu: str, namespace: str) -> float:
    """The dearest matching pool's price among those admitting `namespace`: what admission charges, so
    placement cannot pass the budget (and a pool the namespace may not use cannot price it)."""
    return max((p.price_per_gpu_hour for p in ctx.of(POOL_KIND)
                if (p.region, p.gpu) == (region, gpu) and p.admits(namespace)), default=0.0)


def usage_price(ctx: Context, usage: Usage, namespace: str) -> float:
    """The price per GPU-hour of `usage` by a workload of `namespace`: its named pool's, else the dearest
    pool of its region and type (a pool that does not admit the namespace prices nothing)."""
    if usage.pool:
        return next((p.price_per_gpu_hour for p in ctx.of(POOL_KIND)
                     if pool_key(p.ref.namespace, p.ref.name) == usage.pool and p.admits(namespace)), 0.0)
    return price_of(ctx, usage.region, usage.gpu, namespace)


def ask(ref: Ref, view: QuotaView, rid: int, replicas: int, gpus_per_replica: int, price: float,
        fixed: bool) -> Message:
    req = QuotaRequested(request_id=rid, requester=ref.token, quota=view.ref.name, replicas=replicas,
                         gpus_per_replica=gpus_per_replica, price_per_gpu_hour=price, fixed=fixed)
    who = "reports" if fixed else "autoscaler"
    return Message(to=view.ref, event=req, key=f"{ref.token}.{who}/quota/{view.ref.name}/{rid}")


def reports(ref: Ref, usage: Usage | None, deleting: bool, reported: Asked, ctx: Context) -> tuple[Message, ...]:
    """What a workload tells its namespace's Quotas it runs (pure), when its usage is fixed (not elastic).

    Admission admitted the usage already, so the report is held in full; only a change (replicas, GPUs per
    replica, price, or deletion: 0) is reported again. Elastic workloads are reported by their scaler's asks.
    """
    views = quotas_of(ctx, ref.namespace)
    if usage is None or usage.elastic or not views:
        return ()
    replicas = 0 if deleting else usage.replicas
    price = usage_price(ctx, usage, ref.namespace)
    out: list[Message] = []
    rid = reported.last_request
    for view in views:
        last = reported.asks.get(view.ref.name)
        if (last is None and replicas == 0) or (last is not None and (
                last.replicas, last.gpus_per_replica, last.price_per_gpu_hour) == (replicas, usage.gpus_per_replica,
                                                                                  price)):
            continue
        rid += 1
        out.append(ask(ref, view, rid, replicas, usage.gpus_per_replica, price, fixed=True))
    return tuple(out)


def fold_report(reported: Asked, token: str, event: Any) -> Asked:
    """A workload's own fixed report, folded back (request ids and what each Quota was told)."""
    if isinstance(event, QuotaRequested) and event.fixed and event.requester == token:
        return fold_request(reported, event)
    return reported
