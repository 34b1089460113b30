"""Recording admission decisions: every one, allowed or not, becomes an `AuditRecord` (`core.audit`).

`Recorder` appends records to the log; `observe` counts the decision and writes its log line. Nothing
here ever sees the Authorization header: a record names the principal only.

Refusals are aggregated so that a flood of them cannot fill the disk: the first `BURST` refusals of a
source (door, client address, principal), decision and reason in a minute are stored at once, each with
its details; the others of that minute are counted and stored as ONE record with `count` when the minute
ends (or at `drain`). 1,500 unauthenticated requests add four records, not 1,500. Allowed decisions are
each stored.
"""
from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
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


WINDOW = 60.0
"""Seconds of one aggregation window of refusals."""
BURST = 3
"""Refusals of one key stored one by one in a window before the rest are only counted."""
Key = tuple[str, str, str, str, str]


@dataclass
class Held:
    """The refusals of one key held back in the current window."""

    window: int
    count: int
    last: AuditRecord
    cluster_scoped: bool
    stored: int = 1


class Recorder:
    """Appends audit records to the log; a failure to record is logged, never turned into a 500.

    `submit` pipelines: the record is published right away (after the decision, and after the append it
    reports, so its sequence is higher) but its acknowledgement is awaited in the background, so a
    request pays no extra round trip for its audit record. Records of one gateway reach the log in the
    order they were submitted (one NATS connection). `drain` waits for the ones in flight (on stop).
    """

    def __init__(self, log: Log, window: float = WINDOW) -> None:
        self.log = log
        self.window = window
        self._pending: set[asyncio.Task[None]] = set()
        self._held: dict[Key, Held] = {}
        self._flush_at: asyncio.TimerHandle | None = None

    def submit(self, record: AuditRecord, cluster_scoped: bool = False) -> None:
        if record.decision != "allowed" and not self._first_of_window(record, cluster_scoped):
            return
        self._store(record, cluster_scoped)

    def _store(self, record: AuditRecord, cluster_scoped: bool) -> None:
        task = asyncio.get_running_loop().create_task(self.record(record, cluster_scoped))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _first_of_window(self, record: AuditRecord, cluster_scoped: bool) -> bool:
        """True for the first `BURST` refusals of its key in the current window; the others are held and
        counted. A window of 0 holds nothing back."""
        if self.window <= 0:
            return True
        window = int(record.time // self.window)
        key = (record.source, record.client, record.principal, record.decision, record.code)
        held = self._held.get(key)
        if held is None or held.window != window:
            if held is not None and held.count:
                self._store(msgspec.structs.replace(held.last, count=held.count), held.cluster_scoped)
            self._held[key] = Held(window, 0, record, cluster_scoped)
            self._schedule_flush()
            return True
        if held.stored < BURST:
            held.stored += 1
            return True
        held.count += 1
        held.last, held.cluster_scoped = record, cluster_scoped
        return False

    def _schedule_flush(self) -> None:
        if self._flush_at is None:
            loop = asyncio.get_running_loop()
            delay = self.window - (time.time() % self.window) + 0.05
            self._flush_at = loop.call_later(delay, self._flush_ended)

    def _flush_ended(self, everything: bool = False) -> None:
        """Store the counts of windows that ended (all of them at `drain`)."""
        self._flush_at = None
        if not self._held:  # always so with a window of 0
            return
        now = int(time.time() // self.window)
        for key, held in list(self._held.items()):
            if everything or held.window < now:
                if held.count:
                    self._store(msgspec.structs.replace(held.last, count=held.count), held.cluster_scoped)
                del self._held[key]
        if self._held:
            self._schedule_flush()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every submitted record is stored (or its failure logged), at most `timeout` seconds."""
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._flush_ended(everything=True)
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
