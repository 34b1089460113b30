"""A Quota's ledger (pure): fold the autoscalers' requests in log order and answer each with what fits.

The ledger holds, per autoscaled deployment of the namespace, what it was last granted (replicas, their
GPUs and spend rate) and what it wanted. A request is granted `fit(wanted, limits, others)` (possibly
less than asked, never less than 0; a smaller target always fits). After the requests, every holder is
looked at again against the others' new holdings and the current limits: a Quota lowered since takes
replicas back, a Quota raised (or a neighbour scaling down) gives a limited holder more. Deletion is
immediate (no finalizer): autoscalers stop seeing the Quota's view and are no longer limited by it.
"""
from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import replace

from actors.decisions import Context, Decision
from actors.governance.fit import Fit, Held, fit
from actors.governance.specs import QuotaSpec
from actors.kind import Resource
from actors.quotas import QuotaAnswered, QuotaGranted, QuotaLimits, QuotaRequested, QuotaView
from core.events import Condition, Event, StatusUpdated

CONTROLLER_NAME = "quotas"


class Holding(msgspec.Struct, frozen=True):
    request_id: int
    replicas: int
    wanted: int
    gpus_per_replica: int
    price_per_gpu_hour: float
    limited: bool = False
    fixed: bool = False
    """Reported by a deployment without autoscaling: held in full, never re-answered."""


class Ledger(msgspec.Struct, frozen=True, kw_only=True):
    holdings: dict[str, Holding] = {}
    """Requester (deployment token) -> its latest grant."""
    pending: tuple[QuotaRequested, ...] = ()
    answered: dict[str, int] = {}
    """Requester (suffixed `#fixed` for a deployment's own reports, whose ids are apart from its
    autoscaler's) -> highest request id answered: a redelivered request is never queued again."""


Live = Resource[QuotaSpec, Ledger]


def evolve(r: Live, event: Event) -> Ledger:
    state = r.state
    match event:
        case QuotaRequested(request_id=rid):
            key = _key(event.requester, event.fixed)
            if rid <= state.answered.get(key, 0) or any(_key(p.requester, p.fixed) == key and p.request_id >= rid
                                                        for p in state.pending):
                return state
            kept = tuple(p for p in state.pending if _key(p.requester, p.fixed) != key)  # the newest target counts
            return replace(state, pending=(*kept, event))
        case QuotaAnswered(answers=answers):
            return _fold_answers(state, answers)
        case _:
            return state


def _fold_answers(state: Ledger, answers: tuple[QuotaGranted, ...]) -> Ledger:
    holdings, answered = dict(state.holdings), dict(state.answered)
    for a in answers:
        key = _key(a.requester, a.fixed)
        answered[key] = max(a.request_id, answered.get(key, 0))
        if a.replicas == 0 and a.wanted == 0:
            holdings.pop(a.requester, None)
        else:
            holdings[a.requester] = Holding(a.request_id, a.replicas, a.wanted, a.gpus_per_replica,
                                            a.price_per_gpu_hour, bool(a.limit), a.fixed)
    pending = tuple(p for p in state.pending if p.request_id > answered.get(_key(p.requester, p.fixed), 0))
    return replace(state, holdings=holdings, answered=answered, pending=pending)


def decide(r: Live, now: float, ctx: Context) -> Decision:
    state, limits, quota = r.state, r.spec.limits, r.ref.name
    holdings = dict(state.holdings)
    answers: dict[str, QuotaGranted] = {}
    for req in state.pending:
        h = Holding(req.request_id, 0, req.replicas, req.gpus_per_replica, req.price_per_gpu_hour, fixed=req.fixed)
        answers[req.requester] = _grant(quota, req.requester, h, limits, holdings)
    for who in sorted(holdings):  # limits changed, or a neighbour's grant moved: look at every holder again
        h = holdings[who]
        grant = None if h.fixed else _regrant(quota, who, h, limits, holdings)
        if grant is not None:
            answers[who] = grant
    events: list[Event] = [QuotaAnswered(quota=quota, answers=tuple(answers.values()))] if answers else []
    return Decision(events=(*events, _status(r)))


def _status(r: Live) -> StatusUpdated:
    """A Quota is in effect once admitted: Ready at its generation."""
    ready = Condition(type="Ready", status="True", reason="InEffect",
                      message="enforced at admission and on every autoscaler's scale-up")
    return r.status_update("Ready", ready)


def _grant(quota: str, who: str, h: Holding, limits: QuotaLimits, holdings: dict[str, Holding]) -> QuotaGranted:
    """Answer `who` with what fits beside the others' holdings (a report: all of it), and record it."""
    f = Fit(h.wanted) if h.fixed else fit(h.wanted, limits, _others(holdings, who), h.gpus_per_replica,
                                           h.price_per_gpu_hour)
    holdings[who] = replace(h, replicas=f.replicas, limited=bool(f.limit))
    return QuotaGranted(request_id=h.request_id, requester=who, quota=quota, replicas=f.replicas, wanted=h.wanted,
                        limit=f.limit, gpus_per_replica=h.gpus_per_replica, price_per_gpu_hour=h.price_per_gpu_hour,
                        fixed=h.fixed)


def _regrant(quota: str, who: str, h: Holding, limits: QuotaLimits,
             holdings: dict[str, Holding]) -> QuotaGranted | None:
    f = fit(h.wanted, limits, _others(holdings, who), h.gpus_per_replica, h.price_per_gpu_hour)
    if (f.replicas, bool(f.limit)) == (h.replicas, h.limited):
        return None
    return _grant(quota, who, h, limits, holdings)


def _others(holdings: dict[str, Holding], who: str) -> Held:
    replicas, gpus, cost = 0, 0, 0.0
    for token, h in holdings.items():
        if token != who:
            replicas += h.replicas
            gpus += h.replicas * h.gpus_per_replica
            cost += h.replicas * h.gpus_per_replica * h.price_per_gpu_hour
    return Held(replicas, gpus, cost)


def _key(requester: str, fixed: bool) -> str:
    return f"{requester}#fixed" if fixed else requester


def view(r: Live) -> QuotaView | None:
    if r.applied is None or r.deleting:
        return None
    return QuotaView(ref=r.ref, limits=r.applied.limits)


def legacy(old: dict[str, Any]) -> dict[str, Any]:
    """A ledger snapshot from before the runtime's envelope: its limits were its spec, `deleted` its deletion."""
    out = {k: v for k, v in old.items() if k not in ("limits", "deleted")}
    out["deleting"] = old.get("deleted", False)
    if old.get("limits") is not None:
        out["spec"] = {"limits": old["limits"]}
    return out
