"""Audit records in the log: every admission decision, allowed or not, on `bosun.audit.<namespace>`.

Denials never touch the resource's own subjects (so they never bump a resourceVersion or wake an
actor); the projector folds these records into the read model's `audit` table for `GET /v1/audit`.
A record names the principal, never a token: nothing here ever sees the Authorization header.
"""
from __future__ import annotations

import asyncio
import time

import msgspec
import structlog

from core import subjects
from core.log import Log, Unavailable
from core.names import CLUSTER_NS, name_problem

Decision = str  # allowed | denied | quota-exceeded | invalid | unauthenticated | conflict | unavailable
ANONYMOUS = "anonymous"
UNKNOWN_NS = "_unknown"
"""Subject token for a request whose namespace is not even a valid name (never a real namespace)."""
_encoder = msgspec.json.Encoder()
_log = structlog.get_logger("bosun.audit")


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


def decision_of(status: int, code: str) -> Decision:
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


class Recorder:
    """Appends audit records to the log; a failure to record is logged, never turned into a 500.

    `submit` pipelines: the record is published right away (after the decision, and after the append it
    reports, so its sequence is higher) but its acknowledgement is awaited in the background, so a
    request pays no extra round trip for its audit record. Records of one gateway reach the log in the
    order they were submitted (one NATS connection). `drain` waits for the ones in flight (on stop).
    """

    def __init__(self, log: Log) -> None:
        self.log = log
        self._pending: set[asyncio.Task[None]] = set()

    def submit(self, record: AuditRecord, cluster_scoped: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(self.record(record, cluster_scoped))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every submitted record is stored (or its failure logged), at most `timeout` seconds."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while self._pending:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                _log.warning("audit records still in flight at stop", pending=len(self._pending))
                return
            await asyncio.wait(set(self._pending), timeout=left)

    async def record(self, record: AuditRecord, cluster_scoped: bool = False) -> None:
        hdrs = {"Bosun-Type": "audit.record", "Bosun-Time": repr(record.time)}
        try:
            await self.log.publish(subject_of(record.namespace, cluster_scoped), _encoder.encode(record), hdrs)
        except (Unavailable, Exception) as e:
            _log.warning("audit record not stored", error=str(e) or type(e).__name__, verb=record.verb,
                         kind=record.kind, namespace=record.namespace, name=record.name)


def now() -> float:
    return time.time()
