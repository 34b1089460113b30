"""The autoscaler's side of the quota protocol (pure): ask each Quota of the namespace for the replicas it
recommends, and run no more than the latest grant.

A scale-down needs no answer (a smaller target always fits, and the ledger still holds the larger grant
until it answers); a scale-up waits for the answer and runs what was granted. An answer that grants less
than wanted carries the binding limit ("quota gpus: used 6, wanted 10, limit 8"), which becomes the
`ScaleSet.limit` and so the deployment's `ScalingLimited` condition. Quotas whose view is gone (deleted)
no longer limit.
"""
from __future__ import annotations

import msgspec

from actors.capacity import POOL_KIND
from actors.decisions import Context, Message
from actors.governance.protocol import QUOTA_KIND, QuotaAnswered, QuotaRequested, QuotaView
from core.names import Ref


class Ask(msgspec.Struct, frozen=True):
    request_id: int
    replicas: int
    gpus_per_replica: int
    price_per_gpu_hour: float


class Grant(msgspec.Struct, frozen=True):
    request_id: int
    replicas: int
    limit: str = ""


class Quotas(msgspec.Struct, frozen=True):
    """What this autoscaler asked each Quota (by name) and was last granted."""

    asks: dict[str, Ask] = {}
    grants: dict[str, Grant] = {}
    last_request: int = 0


class Bound(msgspec.Struct, frozen=True):
    replicas: int
    limit: str = ""
    messages: tuple[Message, ...] = ()


def fold_request(q: Quotas, event: QuotaRequested) -> Quotas:
    ask = Ask(event.request_id, event.replicas, event.gpus_per_replica, event.price_per_gpu_hour)
    return Quotas({**q.asks, event.quota: ask}, q.grants, max(q.last_request, event.request_id))


def fold_answers(q: Quotas, me: str, event: QuotaAnswered) -> Quotas:
    mine = [a for a in event.answers if a.requester == me]
    if not mine:
        return q
    a = mine[-1]
    return Quotas(q.asks, {**q.grants, event.quota: Grant(a.request_id, a.replicas, a.limit)}, q.last_request)


def quotas_of(ctx: Context, namespace: str) -> list[QuotaView]:
    return sorted((v for v in ctx.of(QUOTA_KIND) if v.ref.namespace == namespace), key=lambda v: v.ref.name)


def price_of(ctx: Context, region: str, gpu: str) -> float:
    """The dearest matching pool's price: what admission charges, so placement cannot pass the budget."""
    return max((p.price_per_gpu_hour for p in ctx.of(POOL_KIND) if (p.region, p.gpu) == (region, gpu)), default=0.0)


def bound(q: Quotas, ref: Ref, desired: int, current: int, gpus_per_replica: int, price: float,
          views: list[QuotaView]) -> Bound:
    """The replicas every Quota lets this deployment run now (<= desired), and the asks to send."""
    replicas, limit = desired, ""
    messages: list[Message] = []
    rid = q.last_request
    for v in views:
        name = v.ref.name
        ask, grant = q.asks.get(name), q.grants.get(name)
        if ask is None or (ask.replicas, ask.gpus_per_replica, ask.price_per_gpu_hour) != (
                desired, gpus_per_replica, price):
            rid += 1
            req = QuotaRequested(request_id=rid, requester=ref.token, quota=name, replicas=desired,
                                 gpus_per_replica=gpus_per_replica, price_per_gpu_hour=price)
            messages.append(Message(to=v.ref, event=req, key=f"{ref.token}.autoscaler/quota/{name}/{rid}"))
            ask = None
        held = grant.replicas if grant is not None else current
        answered = ask is not None and grant is not None and grant.request_id == ask.request_id
        if held < replicas:
            replicas, limit = held, (grant.limit if answered and grant is not None else "")
    return Bound(max(0, replicas), limit, tuple(messages))


def release(q: Quotas, ref: Ref, views: list[QuotaView]) -> tuple[Message, ...]:
    """On deletion: give back everything held (an ask for 0), once per Quota."""
    out: list[Message] = []
    rid = q.last_request
    for v in views:
        name = v.ref.name
        ask = q.asks.get(name)
        if ask is not None and ask.replicas > 0:
            rid += 1
            req = QuotaRequested(request_id=rid, requester=ref.token, quota=name, replicas=0,
                                 gpus_per_replica=ask.gpus_per_replica, price_per_gpu_hour=ask.price_per_gpu_hour)
            out.append(Message(to=v.ref, event=req, key=f"{ref.token}.autoscaler/quota/{name}/{rid}"))
    return tuple(out)
