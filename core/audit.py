"""The audit record: one type and one vocabulary for every admission decision, allowed or not.

Admission writes it (on `bosun.audit.<namespace>`, never on the resource's own subjects, so a denial
never bumps a resourceVersion or wakes an actor); the projector folds it into the `audit` table; the
API (`GET /v1/audit`) and `bosun audit` show it; the admission metric and log line are labelled with
its `decision`. A record names the principal, never a token. Pure: no I/O here.
"""
from __future__ import annotations

from typing import Literal, get_args

import msgspec

from core import subjects
from core.names import CLUSTER_NS, name_problem

Decision = Literal["allowed", "denied", "quota-exceeded", "invalid", "unauthenticated", "conflict", "unavailable"]
DECISIONS: tuple[str, ...] = get_args(Decision)
ANONYMOUS = "anonymous"
"""The principal of a request that did not authenticate."""
UNKNOWN_NS = "_unknown"
"""Subject token for a request whose namespace is not even a valid name (never a real namespace)."""
TYPE = "audit.record"
"""`Bosun-Type` of an audit record in the log."""


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    time: float
    principal: str
    verb: str
    kind: str
    namespace: str
    name: str
    decision: Decision
    reason: str = ""
    code: str = ""
    status: int = 0
    resource_version: int | None = None
    trace_id: str = ""
    source: str = "http"
    """`http`, `nats` or `bootstrap`: which door the request came through."""
    client: str = ""
    """The client's address when the door knows it (a NATS connect)."""
    count: int = 1
    """How many refusals this record stands for: repeated ones are aggregated per source, reason and
    minute (`gateway.admission.audit`), so a flood of them cannot fill the disk."""


def decision_of(status: int, code: str) -> Decision:
    """The decision an admission answer (HTTP status and error code) stands for."""
    if status < 300:
        return "allowed"
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "quota-exceeded" if code == "QuotaExceeded" else "denied"
    if status == 409:
        return "conflict"
    if status >= 500:
        return "unavailable"
    return "invalid"


def subject_of(namespace: str, cluster_scoped: bool = False) -> str:
    if cluster_scoped or namespace == CLUSTER_NS:
        return subjects.audit(CLUSTER_NS)
    return subjects.audit(UNKNOWN_NS if name_problem(namespace) else namespace)
