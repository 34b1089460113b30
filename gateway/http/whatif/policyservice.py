"""`POST /v1/policy/test`: read the policy-relevant history and replay it against a proposal (`policytest`).

Direct-get scans merged by sequence (cluster-scoped specs, Quota specs, the specs of every kind a Quota
governs, audit records from the starting point), never a consumer; only reads.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
from typing import Any

import msgspec

from actors.governance.specs import PrincipalSpec, QuotaSpec, RoleBindingSpec, RoleSpec
from analysis.whatif.registry import registry
from core import subjects
from core.log import Log, StoredMessage
from core.names import CLUSTER_NS
from gateway.admission import quota
from gateway.admission.bootstrap import PolicyError, manifests
from gateway.admission.validation import validate
from gateway.errors import ErrorDetail, invalid
from gateway.http.whatif.policytest import PolicyTestReport, Proposal, Replay

_SPECS: dict[str, tuple[str, type[msgspec.Struct]]] = {
    "principal": ("principals", PrincipalSpec), "role": ("roles", RoleSpec),
    "rolebinding": ("bindings", RoleBindingSpec), "quota": ("quotas", QuotaSpec)}


def proposal(doc: Any) -> Proposal:
    """The proposed policy (the `docs/policy.example.yaml` shape), validated like `bosun up --policy`."""
    try:
        found = manifests(doc)
    except PolicyError as e:
        raise invalid([ErrorDetail("$", str(e))], str(e)) from e
    tables: dict[str, dict[str, Any]] = {"principals": {}, "roles": {}, "bindings": {}, "quotas": {}}
    for m in found:
        valid = validate(m)
        table, spec_type = _SPECS[valid.info.key]
        spec = msgspec.convert(valid.spec, spec_type)
        if table == "quotas":
            tables["quotas"].setdefault(valid.ref.namespace, {})[valid.ref.name] = spec
        else:
            tables[table][valid.ref.name] = spec
    return Proposal(**tables)


async def test(log: Log, proposed: Proposal, since: int = 0, since_time: float | None = None) -> PolicyTestReport:
    upto = await log.last_seq()
    governed = [f"bosun.ev.{info.key}.*.*.spec" for info in registry().consumers()]
    filters = [(f"bosun.ev.*.{CLUSTER_NS}.*.spec", 1), (quota.quotas_filter("*"), 1), *((f, 1) for f in governed),
               (subjects.AUDIT, max(1, since))]
    lists = await asyncio.gather(*(_scan(log, f, start, upto) for f, start in filters))
    replay = Replay(proposed, since, since_time)
    for m in heapq.merge(*lists, key=lambda m: m.seq):
        replay.feed(m)
    replay.report.upto = upto
    return replay.report


async def _scan(log: Log, subject: str, start: int, upto: int) -> list[StoredMessage]:
    if upto < 1:
        return []
    async with contextlib.aclosing(log.read(subject, start_seq=start, up_to_seq=upto)) as messages:
        return [m async for m in messages]

