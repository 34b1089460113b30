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

from actors.decisions import Message
from actors.quotas import Asked, QuotaAnswered, QuotaView, ask
from core.names import Ref


class Bound(msgspec.Struct, frozen=True):
    replicas: int
    limit: str = ""
    messages: tuple[Message, ...] = ()


def fold_answers(q: Asked, me: str, event: QuotaAnswered) -> Asked:
    mine = [a for a in event.answers if a.requester == me and not a.fixed]
    if not mine:
        return q
    a = mine[-1]
    return Asked(q.asks, {**q.grants, event.quota: (a.request_id, a.replicas, a.limit)}, q.last_request)


def bound(q: Asked, ref: Ref, desired: int, current: int, gpus_per_replica: int, price: float,
          views: list[QuotaView]) -> Bound:
    """The replicas every Quota lets this deployment run now (<= desired), and the asks to send."""
    replicas, limit = desired, ""
    messages: list[Message] = []
    rid = q.last_request
    for v in views:
        asked, grant = q.asks.get(v.ref.name), q.grants.get(v.ref.name)
        if asked is None or (asked.replicas, asked.gpus_per_replica, asked.price_per_gpu_hour) != (
                desired, gpus_per_replica, price):
            rid += 1
            messages.append(ask(ref, v, rid, desired, gpus_per_replica, price, fixed=False))
            asked = None
        held = grant[1] if grant is not None else current
        if held < replicas:
            answered = asked is not None and grant is not None and grant[0] == asked.request_id
            replicas, limit = held, (grant[2] if answered and grant is not None else "")
    return Bound(max(0, replicas), limit, tuple(messages))


def release(q: Asked, ref: Ref, views: list[QuotaView]) -> tuple[Message, ...]:
    """On deletion: give back everything held (an ask for 0), once per Quota."""
    out: list[Message] = []
    rid = q.last_request
    for v in views:
        asked = q.asks.get(v.ref.name)
        if asked is not None and asked.replicas > 0:
            rid += 1
            out.append(ask(ref, v, rid, 0, asked.gpus_per_replica, asked.price_per_gpu_hour, fixed=False))
    return tuple(out)
