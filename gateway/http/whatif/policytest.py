"""`bosun policy test`: which recorded requests a proposed policy would have decided differently.

Pure: the input is stored messages in stream order (policy and deployment spec events, audit
records). The recorded policy is folded as it was at every point (`gateway.admission.policy.PolicyIndex.fold`);
the proposal is laid over it (its Principals, Roles, RoleBindings and Quotas replace those of the same
name). Each recorded apply/delete is judged by admission's own rules — `Rbac.denial`, then
`quota.check` on an apply of a kind that declares a usage — with the namespace's usage as it stands at that point in
log order under the proposal (a request the proposal denies does not count toward later ones).

A request recorded as quota-exceeded carries no spec in the log (a refusal writes only its audit
record), so when the proposal's RBAC lets it through its quota outcome is `undetermined`.
"""
from __future__ import annotations

from typing import Any

import msgspec

from actors.governance.specs import QuotaSpec
from analysis.whatif.registry import registry
from core import codec
from core.audit import AuditRecord
from core.events import DeletionRequested, SpecApplied
from core.log import StoredMessage
from core.names import CLUSTER_NS, Ref
from gateway.admission import quota
from gateway.admission.auth import ADMIN, Principal
from gateway.admission.policy import PolicyIndex, Rbac, allows
from gateway.errors import ApiError

_audit = msgspec.json.Decoder(AuditRecord)
JUDGED = {"allowed", "unchanged", "denied", "quota-exceeded"}
"""Recorded decisions a policy made (invalid, conflict, unavailable, unauthenticated are not policy's)."""


class Proposal(msgspec.Struct, frozen=True):
    """The proposed policy, as validated specs (see `whatif.service.proposal`)."""

    principals: dict[str, Any] = {}
    roles: dict[str, Any] = {}
    bindings: dict[str, Any] = {}
    quotas: dict[str, dict[str, QuotaSpec]] = {}
    """namespace -> quota name -> spec."""


class Verdict(msgspec.Struct, frozen=True, omit_defaults=True):
    decision: str
    """allowed | denied | quota-exceeded | undetermined"""
    code: str = ""
    reason: str = ""


class Changed(msgspec.Struct, frozen=True, rename="camel"):
    seq: int
    time: float
    principal: str
    verb: str
    kind: str
    namespace: str
    name: str
    recorded: Verdict
    proposed: Verdict
    direction: str
    """allowed->denied | denied->allowed"""


class Counts(msgspec.Struct, rename="camel"):
    allowed_to_denied: int = 0
    denied_to_allowed: int = 0


class PolicyTestReport(msgspec.Struct, rename="camel"):
    since: int
    upto: int
    replayed: int = 0
    same: int = 0
    undetermined: int = 0
    changed: list[Changed] = []
    by_principal: dict[str, Counts] = {}
    by_namespace: dict[str, Counts] = {}


class Replay:
    def __init__(self, proposal: Proposal, since: int = 0, since_time: float | None = None) -> None:
        self.proposal = proposal
        self.since, self.since_time = since, since_time
        self.recorded = PolicyIndex()
        self.index = PolicyIndex()
        self.rbac = Rbac(self.index)
        self.quotas: dict[str, dict[str, QuotaSpec]] = {}
        self.deployments: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        """Under the proposal: namespace -> (kind key, workload) -> spec it would hold."""
        self.specs: dict[int, SpecApplied] = {}
        """Workload specs appended at or after `since`, by sequence (an allowed audit record names one)."""
        self.report = PolicyTestReport(since=since, upto=0)
        self._sync()

    def feed(self, m: StoredMessage) -> None:
        self.report.upto = max(self.report.upto, m.seq)
        parts = m.subject.split(".")
        if parts[1] == "audit":
            self._judge(m)
        elif parts[3] == CLUSTER_NS:
            self.recorded.fold(m)
            self._sync()
        elif parts[2] == quota.QUOTA_KIND:
            self._quota(m, parts[3], parts[4])
        elif _governed(parts[2]):
            self._deployment(m, parts[2], parts[3], parts[4])

    def _sync(self) -> None:
        p = self.proposal
        self.index.principals = {**self.recorded.principals, **p.principals}
        self.index.roles = {**self.recorded.roles, **p.roles}
        self.index.bindings = {**self.recorded.bindings, **p.bindings}

    def _quota(self, m: StoredMessage, ns: str, name: str) -> None:
        event = codec.decode(registry().kind(quota.QUOTA_KIND), m.data, m.headers)
        table = self.quotas.setdefault(ns, {})
        if isinstance(event, SpecApplied):
            table[name] = msgspec.convert(event.spec, QuotaSpec)
        else:
            table.pop(name, None)

    def _deployment(self, m: StoredMessage, kind: str, ns: str, name: str) -> None:
        event = codec.decode(registry().kind(kind), m.data, m.headers)
        if not self._in_range(m):  # before the test window: the state as it was
            table = self.deployments.setdefault(ns, {})
            if isinstance(event, SpecApplied):
                table[(kind, name)] = event.spec
            elif isinstance(event, DeletionRequested):
                table.pop((kind, name), None)
        elif isinstance(event, SpecApplied):
            self.specs[m.seq] = event

    def _in_range(self, m: StoredMessage) -> bool:
        return m.seq >= self.since and (self.since_time is None or m.time >= self.since_time)

    def _judge(self, m: StoredMessage) -> None:
        if not self._in_range(m):
            return
        try:
            record = _audit.decode(m.data)
        except msgspec.DecodeError:
            return
        if record.verb not in ("apply", "delete") or record.decision not in JUDGED:
            return
        info = registry().resolve(record.kind)
        if info is None:
            return
        self.report.replayed += 1
        ref = Ref(info.key, record.namespace, record.name)
        was = _recorded(record)
        now = self._decide(record, info.name, ref)
        self._remember(record, ref, now)
        if now.decision == "undetermined":
            self.report.undetermined += 1
        elif _allowed(now) == _allowed(was):
            self.report.same += 1
        else:
            self._changed(m, record, was, now)

    def _decide(self, record: AuditRecord, kind: str, ref: Ref) -> Verdict:
        principal = Principal(record.principal, admin=record.principal == ADMIN)
        denial = self.rbac.denial(principal, record.verb, kind, ref)
        if denial is not None:
            return Verdict("denied", "Forbidden", denial)
        granted = self._granted_by(principal, record.verb, kind, ref)
        info = registry().kind(ref.kind)
        if not quota.governs(info) or record.verb != "apply" or record.decision == "unchanged":
            return Verdict("allowed", reason=granted)
        spec = self._spec_of(record)
        if spec is None:
            return Verdict("undetermined", reason="the request's spec was never recorded (it was refused)")
        held = self.deployments.get(ref.namespace, {})
        quotas = list({**self.quotas.get(ref.namespace, {}), **self.proposal.quotas.get(ref.namespace, {})}.values())
        used = sum((quota.charge(registry().kind(k), s) for (k, _), s in held.items()), quota.Charge())
        try:
            quota.check(quotas, used, quota.charge(info, held.get((ref.kind, ref.name))), quota.charge(info, spec))
        except ApiError as e:
            return Verdict("quota-exceeded", e.code, e.message)
        return Verdict("allowed", reason=granted)

    def _granted_by(self, principal: Principal, verb: str, kind: str, ref: Ref) -> str:
        """Which binding and role let the request through (the rule that decided an allowed one)."""
        if principal.admin:
            return "admin"
        for name, binding in sorted(self.index.bindings.items()):
            rules = self.rbac.rules_of(binding.role)
            if binding.principal != principal.name or rules is None or (
                    binding.namespace is not None and binding.namespace != ref.namespace):
                continue
            if any(allows(rule, verb, kind, ref.namespace, self.rbac.registry) for rule in rules):
                return f"role {binding.role} (binding {name})"
        return ""

    def _spec_of(self, record: AuditRecord) -> dict[str, Any] | None:
        event = self.specs.get(record.resource_version or 0)
        return event.spec if event is not None else None

    def _remember(self, record: AuditRecord, ref: Ref, now: Verdict) -> None:
        if not _governed(ref.kind) or now.decision != "allowed":
            return
        table = self.deployments.setdefault(ref.namespace, {})
        if record.verb == "delete":
            table.pop((ref.kind, ref.name), None)
        elif (spec := self._spec_of(record)) is not None:
            table[(ref.kind, ref.name)] = spec

    def _changed(self, m: StoredMessage, record: AuditRecord, was: Verdict, now: Verdict) -> None:
        direction = "allowed->denied" if _allowed(was) else "denied->allowed"
        self.report.changed.append(Changed(
            seq=m.seq, time=record.time, principal=record.principal, verb=record.verb, kind=record.kind,
            namespace=record.namespace, name=record.name, recorded=was, proposed=now, direction=direction))
        for table, key in ((self.report.by_principal, record.principal), (self.report.by_namespace, record.namespace)):
            counts = table.setdefault(key, Counts())
            if _allowed(was):
                counts.allowed_to_denied += 1
            else:
                counts.denied_to_allowed += 1


def _recorded(record: AuditRecord) -> Verdict:
    decision = "allowed" if record.decision == "unchanged" else record.decision
    refused = decision != "allowed"
    return Verdict(decision, record.code if refused else "", record.reason if refused else "")


def _allowed(v: Verdict) -> bool:
    return v.decision == "allowed"


def _governed(kind: str) -> bool:
    info = registry().resolve(kind)
    return info is not None and quota.governs(info)
