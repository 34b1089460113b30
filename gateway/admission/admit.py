"""Admission: the ONE code path by which user intent enters the log (HTTP PUT/DELETE and NATS intents).

Order: authenticate → resolve the request's address (kind known, names valid) → authorize → decode and
validate the body → append with optimistic concurrency. Every decision goes through `audit`. A rejected
request appends nothing. The gateway writes only the `spec` slice, and only here.
"""
from __future__ import annotations

import asyncio
import hashlib
import random
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal, NamedTuple

import msgspec
import structlog

from actors.controller import DEFAULT, Registry
from core import headers as H
from core import subjects, tracing
from core.audit import ANONYMOUS, AuditRecord, decision_of
from core.events import DeletionRequested, Event, SpecApplied
from core.kinds import KindInfo
from core.log import Appended, Conflict, Log, StoredMessage, Unavailable
from core.names import CLUSTER_NS, Ref
from gateway import offload
from gateway.admission import current as cur
from gateway.admission import quota
from gateway.admission import requests as rq
from gateway.admission.audit import Recorder, observe
from gateway.admission.auth import AdminOnly, Authenticator, Authorizer, Principal, authorize
from gateway.admission.elections import DEADLINE, through_elections
from gateway.admission.retry import retry
from gateway.admission.validation import Target, Valid, ref_of, validate
from gateway.errors import ApiError, ErrorBody, conflict, malformed, not_found, unavailable
from gateway.metrics import APPENDS
from gateway.telemetry import admission_span

Action = Literal["apply", "delete", "retry"]
Result = Literal["created", "configured", "unchanged", "deleted", "deleting", "retrying"]
RETRIES = 5
QUOTA_RETRIES = 64
"""Namespace-wide CAS rounds: every round admits one contender, so this bounds the concurrency served."""
_TRACEPARENT = re.compile(r"^00-(?P<trace>[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_canonical = msgspec.json.Encoder(order="sorted")
_log = structlog.get_logger("bosun.admission")


class Accepted(msgspec.Struct, frozen=True, rename="camel"):
    """`202 Accepted`: the event is durably in the log (or nothing changed); `result` says which."""

    resource_version: int
    generation: int
    result: Result


class Outcome(NamedTuple):
    status: int
    body: Accepted | ErrorBody


@dataclass(frozen=True)
class Intent:
    """A write request from either door, before anything has been checked."""

    action: Action
    kind: str
    namespace: str
    name: str
    body: bytes = b""
    content_type: str | None = None
    authorization: str | None = None
    if_match: str | None = None
    traceparent: str | None = None
    idempotency_key: str | None = None
    """The client's name for this request (`Idempotency-Key`): its resend is recognised (`requests.py`)."""
    source: str = "http"
    """`http`, `nats` or `bootstrap`: recorded in the audit trail."""


class Admission:
    """Admits intents (see the module doc). Audit records are pipelined (`Recorder.submit`): whoever owns the
    log's connection calls `drain()` before closing it, or the last decisions' records may be lost."""

    def __init__(self, log: Log, authenticator: Authenticator, authorizer: Authorizer | None = None,
                 retries: int = RETRIES, recorder: Recorder | None = None, append_deadline: float = DEADLINE,
                 registry: Registry = DEFAULT) -> None:
        self.log = log
        self.append_deadline = append_deadline
        """How long an apply rides out a leader election (`elections.py`; BOSUN_APPEND_DEADLINE)."""
        self.registry = registry
        """The kinds admitted (the process's registry, `actors.registry.load`)."""
        self.recorder = recorder or Recorder(log)
        self.authenticator = authenticator
        self.authorizer: Authorizer = authorizer or AdminOnly()
        self.retries = retries

    async def handle(self, intent: Intent) -> Outcome:
        """Admit `intent`; never raises for a refusal — the Outcome carries the error and its status."""
        with admission_span(intent.action, intent.kind, intent.namespace, intent.name,
                            intent.traceparent, self.registry, self.trusts(intent.authorization)) as admitted:
            outcome = await self._handle(intent)
            admitted(outcome.status, getattr(outcome.body, "resource_version", None))
            return outcome

    def trusts(self, authorization: str | None) -> bool:
        """Whether a caller's trace context may be continued: the admin's (operators' tooling) only."""
        if not authorization:
            return False
        try:
            return self.authenticator.authenticate(authorization).admin
        except ApiError:
            return False

    async def _handle(self, intent: Intent) -> Outcome:
        traceparent = valid_traceparent(intent.traceparent)
        principal: Principal | None = None
        try:
            principal = self.authenticator.authenticate(intent.authorization)
            info, ref = ref_of(intent.kind, intent.namespace, intent.name, self.registry)
            authorize(self.authorizer, principal, "apply" if intent.action == "retry" else intent.action,
                      info.name, ref)  # whoever may apply a resource may ask it to be retried
            if_match = parse_if_match(intent.if_match)
            who, token = principal, rq.token_of(principal.name, rq.parse_key(intent.idempotency_key))
            if intent.action == "retry":
                accepted = Accepted(*await through_elections(
                    lambda: retry(self.log, info, ref, who.name, traceparent, token), self.append_deadline), "retrying")
            elif intent.action == "delete":
                accepted = await through_elections(
                    lambda: self._delete(who, info, ref, if_match, traceparent, token), self.append_deadline)
            else:
                doc = await offload.parse_one(intent.body, intent.content_type)  # off the loop when costly
                valid = validate(doc, Target(intent.kind, intent.namespace, intent.name), registry=self.registry)
                accepted = await through_elections(
                    lambda: self._apply(who, valid, if_match, traceparent, token), self.append_deadline)
        except Unavailable as e:
            return self._refused(intent, principal, traceparent, unavailable(f"the log is unavailable: {e}"))
        except ApiError as e:
            return self._refused(intent, principal, traceparent, e)
        except Exception as e:  # noqa: BLE001 - a bug: still one structured answer and one audit record
            _log.exception("admission failed", kind=intent.kind[:253], name=intent.name[:253], error=repr(e))
            bug = ApiError(500, "Internal", "internal server error")
            return self._refused(intent, principal, traceparent, bug)
        self._audit(intent, principal, traceparent, 202, accepted.result, accepted.resource_version,
                    reason=accepted.result)
        return Outcome(202, accepted)

    async def _apply(self, principal: Principal, valid: Valid, if_match: int | None,
                     traceparent: str, token: str) -> Accepted:
        """The one apply path: read, check, append fenced; on a conflict, read and check again.

        A workload of a governed kind (one that declares a usage) in a namespace with a Quota is read from one
        consistent snapshot of the namespace's specs and fenced on all of them (see `quota.py`): a write to
        any of them sends the apply round again, re-checked against the new usage. Anything else is fenced
        on its own spec subject. The msg id is this request's (`requests.py`): an identical write of another
        request is a conflict like any other.
        """
        fence = await _Fence.open(self.log, valid, self.retries, self.registry)
        digest = content_digest(valid.spec, valid.labels)
        while fence.another_round():
            now, snap = await fence.read(valid)
            if rq.applied_by(now, valid.ref, digest, token):  # an earlier round of this request landed
                return Accepted(now.seq, now.generation, "created" if now.created else "configured")
            check_if_match(if_match, now)
            if now.state == "live" and now.spec == valid.spec and now.labels == valid.labels:
                return Accepted(now.seq, now.generation, "unchanged")
            if now.state == "deleting":
                raise conflict(f"{valid.info.name} {valid.ref.namespace}/{valid.ref.name} is being deleted",
                               "BeingDeleted")
            if sets_code(valid.info, now.spec if now.state == "live" else None, valid.spec):
                authorize(self.authorizer, principal, "exec", valid.info.name, valid.ref)
            if snap is not None:
                quota.check(snap.quotas, snap.usage(),
                            snap.usage_of(valid.info, now.spec if now.state == "live" else None),
                            snap.usage_of(valid.info, valid.spec))
            created = now.state != "live"
            event = SpecApplied(generation=now.next_generation, spec=valid.spec, labels=valid.labels,
                                created=created)
            msg_id = rq.apply_id(valid.ref, event.generation, digest, token)
            expected, expected_subject = fence.expected(valid.ref, now, snap)
            try:
                appended = await self._append(valid.ref, event, expected, msg_id, principal, traceparent,
                                              expected_subject=expected_subject)
            except Conflict:
                if snap is not None:  # some spec of the namespace changed: re-read, re-check (If-Match too)
                    await fence.jitter()
                elif if_match is not None:
                    raise conflict("the resource changed since the If-Match resourceVersion") from None
                continue
            return Accepted(appended.seq, event.generation, "created" if created else "configured")
        raise conflict("too many concurrent writers; retry")

    async def _delete(self, principal: Principal, info: KindInfo, ref: Ref, if_match: int | None,
                      traceparent: str, token: str) -> Accepted:
        for _ in range(self.retries):
            now = await cur.read(self.log, info, ref)
            if rq.deleted_by(now, ref, token):  # an earlier round of this request landed
                return Accepted(now.seq, now.generation, "deleted")
            if now.state in ("absent", "gone"):
                raise not_found(f"{info.name} {ref.namespace}/{ref.name} not found")
            check_if_match(if_match, now)
            if now.state == "deleting":
                return Accepted(now.seq, now.generation, "deleting")
            event = DeletionRequested(generation=now.generation)
            try:
                appended = await self._append(ref, event, now.seq, rq.delete_id(ref, now.generation, token),
                                              principal, traceparent)
            except Conflict:
                if if_match is not None:
                    raise conflict("the resource changed since the If-Match resourceVersion") from None
                continue
            return Accepted(appended.seq, now.generation, "deleted")
        raise conflict("too many concurrent writers; retry")

    async def _append(self, ref: Ref, event: Event, expected: int, msg_id: str, principal: Principal,
                      traceparent: str, expected_subject: str | None = None) -> Appended:
        started = time.perf_counter()
        try:
            return await self.log.append(subjects.spec(ref), event, expected_last_subject_seq=expected,
                                         msg_id=msg_id, expected_subject=expected_subject,
                                         extra={H.PRINCIPAL: principal.name, H.TRACEPARENT: traceparent})
        finally:
            APPENDS.observe(time.perf_counter() - started)

    def refuse(self, intent: Intent, error: ApiError) -> Outcome:
        """Refuse `intent` before admission proper (e.g. a NATS reply subject it may not use): the audit
        record names the principal when its credentials are good."""
        try:
            principal: Principal | None = self.authenticator.authenticate(intent.authorization)
        except ApiError:
            principal = None
        theirs = intent.traceparent if principal is not None and principal.admin else None
        return self._refused(intent, principal, valid_traceparent(theirs), error)

    def _refused(self, intent: Intent, principal: Principal | None, traceparent: str,
                 error: ApiError) -> Outcome:
        self._audit(intent, principal, traceparent, error.status, error.code, reason=error.message)
        return Outcome(error.status, error.body)

    def _audit(self, intent: Intent, principal: Principal | None, traceparent: str, status: int, code: str,
               rv: int | None = None, reason: str = "") -> None:
        """Record the decision: its audit record is counted and logged, and submitted (pipelined, see
        `Recorder.submit`) after the append it reports; a refusal's record is the only thing it writes."""
        info = self.registry.resolve(intent.kind)
        record = AuditRecord(
            time=time.time(), principal=principal.name if principal else ANONYMOUS, verb=intent.action,
            kind=info.name if info else intent.kind[:253],
            namespace=CLUSTER_NS if info and info.cluster_scoped else intent.namespace[:253],
            name=intent.name[:253], decision=decision_of(status, code), reason=reason[:1000], code=code,
            status=status, resource_version=rv, trace_id=traceparent.split("-")[1], source=intent.source)
        if not (intent.source == "bootstrap" and code == "unchanged"):  # restarts leave no trail
            self.recorder.submit(record, cluster_scoped=bool(info and info.cluster_scoped))
        observe(record)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the audit records still in flight (call before closing the NATS connection)."""
        await self.recorder.drain(timeout)


class _Fence:
    """How one apply is read and fenced, round after round (see `Admission._apply`)."""

    def __init__(self, log: Log, governed: bool, last: StoredMessage | None, fresh: bool, retries: int,
                 registry: Registry) -> None:
        self.log = log
        self.registry = registry
        self.governed = governed
        """The namespace has (or had) a Quota and the kind is governed: namespace-wide snapshot and fence."""
        self.last = last
        self.fresh = fresh
        """`last` was read just now: the first round needs no read of its own."""
        self.retries = retries
        self.rounds, self.budget = 0, QUOTA_RETRIES if governed else retries

    @classmethod
    async def open(cls, log: Log, valid: Valid, retries: int, registry: Registry) -> _Fence:
        if not quota.governs(valid.info):
            return cls(log, False, None, False, retries, registry)
        last, governed = await quota.last_and_governed(log, valid.ref)
        return cls(log, governed, last, not governed, retries, registry)

    def another_round(self) -> bool:
        self.rounds += 1
        return self.rounds <= self.budget

    async def read(self, valid: Valid) -> tuple[cur.Current, quota.Snapshot | None]:
        if self.governed:
            snap = await quota.snapshot(self.log, valid.ref.namespace, self.registry)
            if snap.quotas:
                last = snap.workloads.get((valid.ref.kind, valid.ref.name))
                return await cur.from_last(self.log, valid.info, valid.ref, last), snap
            # No Quota after all: from now on the apply is fenced on its own subject, with its own budget.
            self.governed, self.rounds, self.budget = False, 1, self.retries
        if self.fresh:
            self.fresh = False
            return await cur.from_last(self.log, valid.info, valid.ref, self.last), None
        return await cur.read(self.log, valid.info, valid.ref), None

    @staticmethod
    def expected(ref: Ref, now: cur.Current, snap: quota.Snapshot | None) -> tuple[int, str | None]:
        """(expected last sequence, the subject filter it is checked on; None: the spec subject itself)."""
        if snap is None:
            return now.seq, None
        return snap.expected, quota.namespace_filter(ref.namespace)

    async def jitter(self) -> None:
        await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * self.rounds)))

def parse_if_match(value: str | None) -> int | None:
    """`If-Match: <resourceVersion>` (quotes tolerated, as for HTTP ETags); 400 when not a number."""
    if value is None or not value.strip():
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True, and int("²") raises
        raise malformed(f"If-Match must be a resourceVersion (a number), got {value[:40]!r}", "If-Match")
    return int(raw)


def check_if_match(if_match: int | None, now: cur.Current) -> None:
    if if_match is not None and if_match != now.seq:
        raise conflict(f"resourceVersion is {now.seq}, not {if_match}")


def sets_code(info: KindInfo, before: dict[str, object] | None, after: dict[str, object]) -> bool:
    """Whether writing `after` over `before` sets or changes what the resource runs (its `exec_fields`):
    that needs `exec`. Scaling a deployment whose command someone else set does not."""
    return any(after.get(f) and after.get(f) != (before or {}).get(f) for f in info.exec_fields)


def content_digest(spec: dict[str, object], labels: dict[str, str]) -> str:
    return hashlib.sha256(_canonical.encode({"spec": spec, "labels": labels})).hexdigest()[:16]


def valid_traceparent(value: str | None) -> str:
    """The current span's traceparent (admission's), else `value` (a trusted caller's) when well-formed, else
    a fresh one."""
    current = tracing.traceparent_of()
    if current is not None:
        return current
    if value and _TRACEPARENT.match(value.strip()):
        return value.strip()
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
