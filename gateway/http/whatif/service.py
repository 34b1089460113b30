"""`bosun plan`: judge each manifest as admission would, then run the admitted ones on a fork of the log.

Reads only (current specs, quota snapshots, controller snapshots and the tail after them); nothing is
ever appended. Admission's own pure rules decide what would be admitted: `validate`, RBAC (`apply`),
and the namespace quota charged in manifest order; refused manifests are reported and left out of
the fork, exactly as `apply` would leave them out of the log.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from analysis.whatif import load as loading
from analysis.whatif import outcome
from analysis.whatif.planner import Intent, ResourcePlan, Settings, resource_plan, simulate
from core.events import DeletionRequested, SpecApplied
from core.log import Log
from core.names import Ref
from gateway.admission import current
from gateway.admission.admit import sets_code
from gateway.admission.auth import Authorizer, Principal, authorize
from gateway.admission.validation import DEFAULT_NAMESPACE, validate
from gateway.errors import ApiError, ErrorInfo, conflict
from gateway.http.diff import changes
from gateway.http.whatif import quotas


class Basis(msgspec.Struct, frozen=True, rename="camel"):
    """What the plan was computed from: the log up to `seq`, `tail` messages folded after the snapshots."""

    seq: int
    tail: int
    actors: int


class PlanReport(msgspec.Struct, frozen=True, rename="camel"):
    items: list[ResourcePlan]
    pools: list[outcome.PoolLeft]
    quotas: list[quotas.QuotaImpact]
    affected: list[outcome.Affected]
    quiescent: bool
    virtual_seconds: float
    decisions: int
    basis: Basis


class _Judged(NamedTuple):
    ref: Ref
    kind: str
    action: str
    diff: list[Any]
    error: ErrorInfo | None
    intent: Intent | None


async def plan(log: Log, docs: list[Any], principal: Principal, authorizer: Authorizer,
               deletes: Sequence[tuple[str, Ref]] = (), settings: Settings | None = None) -> PlanReport:
    """The predicted effect of applying `docs` (and deleting `deletes`: (kind name, ref)) now."""
    judged: list[_Judged] = []
    ledgers = quotas.Ledgers(log)
    for doc in docs:
        judged.append(await _judge(log, doc, principal, authorizer, ledgers))
    for kind, ref in deletes:
        judged.append(await _judge_delete(log, kind, ref, principal, authorizer))
    refs = [j.ref for j in judged if j.intent is not None]
    start = await loading.load(log, refs)
    # Pure CPU: in a worker thread, so the gateway's event loop keeps serving while a big plan runs.
    sim = await asyncio.to_thread(functools.partial(
        simulate, start.states(), start.timers, start.time, start.upto + 1,
        [j.intent for j in judged if j.intent is not None], settings,
        companions=start.companion_states(), companion_timers=start.companion_timers))
    items = [resource_plan(j.ref, j.kind, j.action, sim, j.diff, j.error) for j in judged]
    planned = {j.ref for j in judged}
    return PlanReport(items=items, pools=outcome.pools_left(sim.before, sim.after),
                      quotas=ledgers.impacts(),
                      affected=outcome.affected(planned, sim.before, sim.after, sim.result.timeline),
                      quiescent=sim.result.quiescent, virtual_seconds=round(sim.result.elapsed, 6),
                      decisions=sim.result.decisions,
                      basis=Basis(seq=start.upto, tail=start.tail, actors=len(start.cells)))


async def _judge(log: Log, doc: Any, principal: Principal, authorizer: Authorizer,
                 ledgers: quotas.Ledgers) -> _Judged:
    try:
        valid = validate(doc)
        authorize(authorizer, principal, "diff", valid.info.name, valid.ref)
    except ApiError as e:
        return _invalid(doc, e)
    now = await current.read(log, valid.info, valid.ref)
    before = {"metadata": {"labels": now.labels or {}}, "spec": now.spec or {}} if now.state == "live" else {}
    diff = [msgspec.to_builtins(c) for c in changes(before, {"metadata": {"labels": valid.labels},
                                                              "spec": valid.spec})]
    kind = valid.info.name
    if now.state == "deleting":
        return _Judged(valid.ref, kind, "refused", diff, conflict("the resource is being deleted",
                                                                  "BeingDeleted").body.error, None)
    if now.state == "live" and now.spec == valid.spec and now.labels == valid.labels:
        return _Judged(valid.ref, kind, "unchanged", [], None, None)
    action = "update" if now.state == "live" else "create"
    try:
        authorize(authorizer, principal, "apply", kind, valid.ref)
        if sets_code(valid.info, now.spec if now.state == "live" else None, valid.spec):
            authorize(authorizer, principal, "exec", kind, valid.ref)  # as admission would
        await ledgers.charge(valid, now)
    except ApiError as e:
        return _Judged(valid.ref, kind, "refused", diff, e.body.error, None)
    event = SpecApplied(generation=now.next_generation, spec=valid.spec, labels=valid.labels,
                        created=now.state != "live")
    return _Judged(valid.ref, kind, action, diff, None, Intent(valid.ref, event))


async def _judge_delete(log: Log, kind: str, ref: Ref, principal: Principal, authorizer: Authorizer) -> _Judged:
    from analysis.whatif.registry import registry

    info = registry().kind(ref.kind)
    try:
        authorize(authorizer, principal, "delete", kind, ref)
    except ApiError as e:
        return _Judged(ref, kind, "refused", [], e.body.error, None)
    now = await current.read(log, info, ref)
    if now.state != "live":
        return _Judged(ref, kind, "unchanged", [], None, None)
    return _Judged(ref, kind, "delete", [], None, Intent(ref, DeletionRequested(generation=now.generation)))


def _invalid(doc: Any, error: ApiError) -> _Judged:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    kind = doc.get("kind") if isinstance(doc, dict) else None
    ref = Ref(str(kind or "").lower(), str(meta.get("namespace") or DEFAULT_NAMESPACE), str(meta.get("name") or ""))
    return _Judged(ref, str(kind or ""), "invalid", [], error.body.error, None)
