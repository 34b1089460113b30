"""Quota as admission would charge a plan's manifests, in manifest order (`gateway.admission.quota`'s own rules).

One ledger per namespace, read once: the Quotas (by name) and the usage of its workloads. A Quota in
the plan replaces the one of the same name for the manifests after it; a workload is charged only the
difference to what it (or an earlier manifest of the plan) held, as admission charges it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.governance.specs import QuotaSpec
from analysis.whatif.registry import registry
from core import codec
from core.events import SpecApplied
from core.log import Log
from gateway.admission import current, quota
from gateway.admission.validation import Valid


class QuotaImpact(msgspec.Struct, frozen=True, rename="camel"):
    namespace: str
    resource: str
    used_before: int
    used_after: int
    limit: int


@dataclass
class Ledger:
    quotas: dict[str, QuotaSpec]
    before: quota.Charge
    used: quota.Charge
    specs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Workloads the plan changed so far: (kind key, name) -> the spec they would hold."""


class Ledgers:
    def __init__(self, log: Log) -> None:
        self.log = log
        self.namespaces: dict[str, Ledger | None] = {}
        """None: the namespace has no Quota (admission reads nothing more there, and neither do we)."""

    async def charge(self, valid: Valid, now: current.Current) -> None:
        """Raise admission's 403 QuotaExceeded when this workload apply passes a limit; else count it."""
        if valid.info.key == quota.QUOTA_KIND:
            ledger = await self._ledger(valid, force=True)
            assert ledger is not None
            ledger.quotas[valid.ref.name] = msgspec.convert(valid.spec, QuotaSpec)
            return
        if not quota.governs(valid.info):
            return
        ledger = await self._ledger(valid)
        if ledger is None or not ledger.quotas:
            return
        key = (valid.ref.kind, valid.ref.name)
        old_spec = ledger.specs.get(key, now.spec if now.state == "live" else None)
        old, new = quota.charge(valid.info, old_spec), quota.charge(valid.info, valid.spec)
        quota.check(list(ledger.quotas.values()), ledger.used, old, new)
        ledger.used = ledger.used - old + new
        ledger.specs[key] = valid.spec

    async def _ledger(self, valid: Valid, force: bool = False) -> Ledger | None:
        ns = valid.ref.namespace
        if ns in self.namespaces and (self.namespaces[ns] is not None or not force):
            return self.namespaces[ns]
        if not force:
            _, governed = await quota.last_and_governed(self.log, valid.ref)
            if not governed:
                self.namespaces[ns] = None
                return None
        snap = await quota.snapshot(self.log, ns, registry())
        found, _ = await self.log.last_per_subject([quota.quotas_filter(ns)])
        quotas: dict[str, QuotaSpec] = {}
        for m in found:
            event = codec.decode(registry().kind(quota.QUOTA_KIND), m.data, m.headers)
            if isinstance(event, SpecApplied):
                quotas[m.subject.split(".")[4]] = msgspec.convert(event.spec, QuotaSpec)
        ledger = Ledger(quotas, snap.usage(), snap.usage())
        self.namespaces[ns] = ledger
        return ledger

    def impacts(self) -> list[QuotaImpact]:
        out = []
        for ns, ledger in sorted(self.namespaces.items()):
            for _, q in sorted((ledger.quotas if ledger else {}).items()):
                for resource in quota.RESOURCES:
                    limit = getattr(q.limits, resource)
                    if limit is not None:
                        out.append(QuotaImpact(ns, resource, getattr(ledger.before, resource),  # type: ignore[union-attr]
                                               getattr(ledger.used, resource), limit))  # type: ignore[union-attr]
        return out
