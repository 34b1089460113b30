"""Recording admission decisions: every one, allowed or not, becomes an `AuditRecord` (`core.audit`).

`Recorder` appends records to the log; `observe` counts the decision and writes its log line. Nothing
here ever sees the Authorization header: a record names the principal only.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

import msgspec
import structlog

from core.audit import TYPE, AuditRecord, subject_of
from core.log import Log, Unavailable
from gateway.metrics import ADMISSIONS

_encoder = msgspec.json.Encoder()
_log = structlog.get_logger("bosun.audit")


def observe(record: AuditRecord) -> None:
    """The decision's metric and structured log line (labelled with the record's own vocabulary)."""
    _decisions(record.verb, record.decision).inc()
    # kind as its key (lowercase), as on every other component's lines
    _log.info("admission", kind=record.kind.lower(), namespace=record.namespace, name=record.name, action=record.verb,
              principal=record.principal, decision=record.decision, status=record.status, code=record.code,
              reason=record.reason, resource_version=record.resource_version, trace_id=record.trace_id)


@functools.cache
def _decisions(action: str, decision: str) -> Any:
    """The counter child of one label pair (a `labels()` lookup takes a lock and validates every call)."""
    return ADMISSIONS.labels(action, decision)


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
        hdrs = {"Bosun-Type": TYPE, "Bosun-Time": repr(record.time)}
        try:
            await self.log.publish(subject_of(record.namespace, cluster_scoped), _encoder.encode(record), hdrs)
        except (Unavailable, Exception) as e:  # noqa: BLE001 - the decision stands; its record is best effort
            _log.warning("audit record not stored", error=str(e) or type(e).__name__, verb=record.verb,
                         kind=record.kind, namespace=record.namespace, name=record.name)
