"""A Quota's ledger (pure): fold the autoscalers' requests in log order and answer each with what fits.

The ledger holds, per autoscaled deployment of the namespace, what it was last granted (replicas, their
GPUs and spend rate) and what it wanted. A request is granted `fit(wanted, limits, others)` (possibly
less than asked, never less than 0; a smaller target always fits). After the requests, every holder is
looked at again against the others' new holdings and the current limits: a Quota lowered since takes
replicas back, a Quota raised (or a neighbour scaling down) gives a limited holder more. Deletion is
immediate (no finalizer): autoscalers stop seeing the Quota's view and are no longer limited by it.
"""
from __future__ import annotations

import msgspec
from msgspec.structs import replace

from actors.decisions import Context, Decision
from actors.governance.fit import Fit, Held, fit
from actors.governance.protocol import QuotaAnswered, QuotaGranted, QuotaRequested, QuotaView
from actors.governance.specs import QuotaLimits, QuotaSpec
from core.events import Condition, DeletionRequested, Event, SpecApplied, StatusUpdated
from core.names import Ref

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
    ref: Ref
    limits: QuotaLimits | None = None
    generation: int = 0
    status: StatusUpdated | None = None
    """The status last written: a Quota is in effect once admitted, so it reads Ready at its generation."""
    deleted: bool = False
    holdings: dict[str, Holding] = {}
    """Requester (deployment token) -> its latest grant."""
    pending: tuple[QuotaRequested, ...] = ()
    answered: dict[str, int] = {}
    """Requester (suffixed `#fixed` for a deployment's own reports, whose ids are apart from its
    autoscaler's) -> highest request id answered: a redelivered request is never queued again."""


def initial(ref: Ref) -> Ledger:
    return Ledger(ref=ref)


def evolve(state: Ledger, event: Event) -> Ledger:
    match event:
        case SpecApplied(spec=spec, created=created):
            base = initial(state.ref) if created and state.deleted else state
            return replace(base, limits=msgspec.convert(spec, QuotaSpec).limits, generation=event.generation,
                           deleted=False)
        case StatusUpdated():
            return replace(state, status=event)
        case DeletionRequested():
            return replace(state, deleted=True)
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


def decide(state: Ledger, now: float, ctx: Context) -> Decision:
    limits = state.limits
    if limits is None or state.deleted:
        return Decision()
    holdings = dict(state.holdings)
    answers: dict[str, QuotaGranted] = {}
    for req in state.pending:
        h = Holding(req.request_id, 0, req.replicas, req.gpus_per_replica, req.price_per_gpu_hour, fixed=req.fixed)
        answers[req.requester] = _grant(state.ref.name, req.requester, h, limits, holdings)
    for who in sorted(holdings):  # limits changed, or a neighbour's grant moved: look at every holder again
        h = holdings[who]
        grant = None if h.fixed else _regrant(state.ref.name, who, h, limits, holdings)
        if grant is not None:
            answers[who] = grant
    events: list[Event] = [QuotaAnswered(quota=state.ref.name, answers=tuple(answers.values()))] if answers else []
    status = _status(state.generation)
    if status != state.status:
        events.append(status)
    return Decision(events=tuple(events))


def _status(generation: int) -> StatusUpdated:
    ready = Condition(type="Ready", status="True", reason="InEffect",
                      message="enforced at admission and on every autoscaler's scale-up")
    return StatusUpdated(observed_generation=generation, phase="Ready", conditions=(ready,))


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


def view(state: Ledger) -> QuotaView | None:
    if state.limits is None or state.deleted:
        return None
    return QuotaView(ref=state.ref, limits=state.limits)


def status_of(state: Ledger) -> StatusUpdated | None:
    return state.status


def finished(state: Ledger) -> bool:
    return state.deleted and not state.pending
