"""Policy backtests (pure): recorded requests replayed against a proposal with admission's own rules."""
from __future__ import annotations

from typing import Any

import msgspec

from actors.governance.specs import QuotaLimits, QuotaSpec, RoleBindingSpec
from core import codec
from core.audit import AuditRecord
from core.events import SpecApplied
from core.log import StoredMessage
from gateway.http.whatif.policytest import Proposal, Replay
from tests.simworld import deployment_spec

ROLE = {"rules": [{"verbs": ["apply", "delete"], "kinds": ["ModelDeployment"], "namespaces": ["team-a"]}]}


class History:
    def __init__(self) -> None:
        self.messages: list[StoredMessage] = []

    def spec(self, kind: str, ns: str, name: str, spec: dict[str, Any]) -> int:
        seq = len(self.messages) + 1
        event = SpecApplied(generation=1, spec=spec, created=True)
        self.messages.append(StoredMessage(seq, f"bosun.ev.{kind}.{ns}.{name}.spec",
                                           {"Bosun-Type": "spec.applied"}, codec.encode(event), float(seq)))
        return seq

    def audit(self, principal: str, verb: str, name: str, decision: str, rv: int | None = None,
              code: str = "") -> None:
        seq = len(self.messages) + 1
        record = AuditRecord(time=float(seq), principal=principal, verb=verb, kind="ModelDeployment",
                             namespace="team-a", name=name, decision=decision, code=code, resource_version=rv)
        self.messages.append(StoredMessage(seq, "bosun.audit.team-a", {}, msgspec.json.encode(record), float(seq)))

    def apply(self, name: str, replicas: int) -> int:
        rv = self.spec("modeldeployment", "team-a", name, deployment_spec(replicas))
        self.audit("alice", "apply", name, "allowed", rv)
        return rv

    def replay(self, proposal: Proposal, since: int = 0) -> Replay:
        replay = Replay(proposal, since)
        for m in self.messages:
            replay.feed(m)
        return replay


def recorded_history() -> History:
    h = History()
    h.spec("role", "_cluster", "deployer", ROLE)
    h.spec("rolebinding", "_cluster", "alice-deployer", {"principal": "alice", "role": "deployer"})
    for name, replicas in (("a", 2), ("b", 3), ("c", 2)):
        h.apply(name, replicas)
    h.audit("bob", "delete", "a", "denied", code="Forbidden")
    return h


def test_a_stricter_quota_denies_in_log_order_and_a_binding_allows() -> None:
    proposal = Proposal(quotas={"team-a": {"default": QuotaSpec(limits=QuotaLimits(gpus=4))}},
                        bindings={"bob-deployer": RoleBindingSpec(principal="bob", role="deployer")})
    report = recorded_history().replay(proposal).report
    assert [(c.name, c.principal, c.direction, c.proposed.code) for c in report.changed] == [
        ("b", "alice", "allowed->denied", "QuotaExceeded"), ("a", "bob", "denied->allowed", "")]
    assert (report.replayed, report.same, report.undetermined) == (4, 2, 0)  # c fits once b is refused
    assert report.changed[1].proposed.reason == "role deployer (binding bob-deployer)"
    assert report.by_principal["alice"].allowed_to_denied == 1
    assert report.by_namespace["team-a"].denied_to_allowed == 1


def test_since_judges_against_the_state_as_it_was_then() -> None:
    h = recorded_history()
    c_seq = next(m.seq for m in h.messages if m.subject.endswith(".c.spec"))
    proposal = Proposal(quotas={"team-a": {"default": QuotaSpec(limits=QuotaLimits(gpus=4))}})
    report = h.replay(proposal, since=c_seq).report
    assert [(c.name, c.direction) for c in report.changed] == [("c", "allowed->denied")]  # a+b already hold 5


def test_the_recorded_policy_changes_nothing_and_refused_specs_are_undetermined() -> None:
    h = recorded_history()
    h.audit("alice", "apply", "d", "quota-exceeded", code="QuotaExceeded")
    report = h.replay(Proposal()).report
    assert report.changed == [] and report.same == 4
    assert report.undetermined == 1


def test_since_a_time_replays_only_what_was_recorded_from_then() -> None:
    h = recorded_history()
    c_time = next(m.time for m in h.messages if m.subject.endswith(".c.spec"))
    replay = Replay(Proposal(quotas={"team-a": {"default": QuotaSpec(limits=QuotaLimits(gpus=4))}}),
                    since_time=c_time)
    for m in h.messages:
        replay.feed(m)
    assert [(c.name, c.direction) for c in replay.report.changed] == [("c", "allowed->denied")]
    assert replay.report.replayed == 2  # c's apply and bob's delete
