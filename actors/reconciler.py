"""Deciding: one resource's `decide`, the append of its decision, failure isolation and retry backoff.

`decide` runs under the watchdog's budget (`actors.watchdog`). A decide that raises marks that one
resource Degraded and retries it with backoff (`QUARANTINE_AFTER` times, then it is quarantined); one
that raises `TerminalError` marks it Failed, not retried; one that overruns its budget is quarantined
at once (`actors.failures`, `actors.quarantine`): parked, no decide, until its spec changes or a retry is
asked. A write fenced by the log (the actor is behind) decides again shortly; the log being unreachable
retries without a record. Every outcome sets the cell's next wake-up in the timer queue.
"""
from __future__ import annotations

import time

import msgspec
import structlog

from actors.cells import Cell
from actors.decisions import backoff
from actors.effects import DecisionWriter
from actors.effects import ids as _ids
from actors.failures import (
    QUARANTINE_AFTER,
    TIMEOUTS_TO_QUARANTINE,
    FailureRecord,
    TerminalError,
    failure_events,
    next_record,
)
from actors.partitions import partition_of_token
from actors.quarantine import QuarantineBook
from actors.telemetry import reconciling
from actors.timers import TimerQueue
from actors.views import ViewBoard
from actors.watchdog import Overrun, Watchdog
from core import log as corelog
from core.events import StatusUpdated
from core.log import Conflict, Log
from core.metrics import RECONCILE_FAILURES

log = structlog.get_logger("bosun.controller")

MAX_LINKS = 64
"""Traceparents a reconcile span links to at most."""


class Reconciler:
    def __init__(self, lg: Log, stats: dict[str, int], timers: TimerQueue, views: ViewBoard, *,
                 book: QuarantineBook | None = None, watchdog: Watchdog | None = None) -> None:
        self.stats = stats
        self.book = book or QuarantineBook()
        self.watchdog = watchdog or Watchdog()
        self.timers = timers
        self.views = views
        self.writer = DecisionWriter(lg, stats)
        self.traces: dict[str, list[str]] = {}
        """Per actor: traceparents of the events folded since its last decision (its reconcile span's links)."""

    def caused_by(self, cell: Cell, traceparent: str) -> None:
        self.traces.setdefault(cell.key, []).append(traceparent)

    async def decide(self, cell: Cell) -> None:
        token = cell.key
        traces = self.traces.pop(token, [])[-MAX_LINKS:]
        with reconciling(cell, traces, self.stats):
            await self._reconcile(cell)
        if cell.causes:  # not decided durably: the next attempt links these too
            self.traces[token] = traces + self.traces.get(token, [])

    async def _reconcile(self, cell: Cell) -> None:
        now = time.time()
        token = cell.key  # the book is keyed by actor: a quarantined companion parks only itself
        held = self.book.records.get(token) if self.book.records else None
        if held is not None and held.quarantined:
            if not held.announced:
                await self._record(cell, now, held, "quarantined")
            cell.causes.clear()
            return  # parked: nothing is decided until its spec changes or a retry is asked
        context = self.views.context
        try:
            decision = self.watchdog.call(token, "decide", cell.hwm, cell.controller.decide, cell.state, now,
                                          context)
        except Overrun as e:
            await self._overran(cell, now, next_record(held, step="decide", reason=e.reason, message=str(e),
                                                       now=now, hwm=cell.hwm))
            return
        except TerminalError as e:
            await self._terminal(cell, now, e)
            return
        except Exception as e:  # noqa: BLE001 - failure isolation: this resource degrades, others go on
            await self._failed(cell, now, e)
            return
        self.stats["decisions"] += 1
        try:
            await self.writer.execute(cell, decision, now, context)
            self.views.publish(cell)
        except Conflict as e:
            self.stats["conflicts"] += 1
            log.warning("write fenced: actor is behind the log; deciding again later", **_ids(cell), error=str(e))
            self.set_wake(cell, now + backoff(1, cell.ref.token))
            return
        except corelog.Unavailable as e:
            await self._failed(cell, now, e, record=False)
            return
        cell.failures = 0
        cell.causes.clear()
        if held is not None:
            self.book.release(token)  # a crash counted against it was not its fault after all
        self.set_wake(cell, decision.wake_at)

    async def _failed(self, cell: Cell, now: float, error: BaseException, record: bool = True) -> None:
        """Mark this one resource Degraded, record why, and retry with backoff (quarantine when it keeps
        failing)."""
        cell.failures += 1
        self.stats["failures"] += 1
        delay = backoff(cell.failures, cell.ref.token, base=1.0, cap=60.0)
        log.error("reconcile failed", **_ids(cell), attempt=cell.failures, retry_in=round(delay, 2),
                  error=repr(error))
        if not record:
            self.set_wake(cell, now + delay)
            return
        RECONCILE_FAILURES.labels(cell.ref.kind, "exception").inc()
        since = now - sum(backoff(i, cell.ref.token, base=1.0, cap=60.0) for i in range(1, cell.failures))
        rec = FailureRecord(step="decide", reason="exception", message=repr(error)[:300], since=since,
                            count=cell.failures, hwm=cell.hwm)
        if cell.failures >= QUARANTINE_AFTER:
            await self.quarantine(cell, now, rec, counted=True)
            return
        await self._record(cell, now, rec, "retry", delay)
        self.set_wake(cell, now + delay)

    async def _overran(self, cell: Cell, now: float, rec: FailureRecord) -> None:
        """Quarantine at the second overrun in a row (the first is retried: a loaded box can stretch one)."""
        if rec.count >= TIMEOUTS_TO_QUARANTINE:
            await self.quarantine(cell, now, rec)
            return
        self.stats["failures"] += 1
        RECONCILE_FAILURES.labels(cell.ref.kind, rec.reason).inc()
        delay = backoff(rec.count, cell.ref.token, base=1.0, cap=60.0)
        log.error("decide overran its budget; retrying once", **_ids(cell), reason=rec.reason, retry_in=delay)
        self.book.put(cell.key, rec)
        await self._record(cell, now, rec, "retry", delay)
        self.set_wake(cell, now + delay)

    async def _terminal(self, cell: Cell, now: float, error: TerminalError) -> None:
        """The kind says this spec cannot work: Failed, and no retry until something new arrives."""
        self.stats["failures"] += 1
        RECONCILE_FAILURES.labels(cell.ref.kind, "terminal").inc()
        log.error("reconcile failed terminally", **_ids(cell), error=str(error))
        rec = FailureRecord(step="decide", reason="terminal", message=str(error)[:300], since=now, hwm=cell.hwm)
        await self._record(cell, now, rec, "failed")
        cell.causes.clear()
        self.set_wake(cell, None)

    async def quarantine(self, cell: Cell, now: float, rec: FailureRecord, counted: bool = False) -> None:
        """Park this resource (durably: the book), say why in its status, and stop deciding it."""
        if not counted:
            self.stats["failures"] += 1
            RECONCILE_FAILURES.labels(cell.ref.kind, rec.reason).inc()
        rec = msgspec.structs.replace(rec, quarantined=True, announced=False)
        log.error("resource quarantined", **_ids(cell), step=rec.step, reason=rec.reason, count=rec.count,
                  error=rec.message)
        self.book.put(cell.key, rec)
        await self._record(cell, now, rec, "quarantined")
        cell.causes.clear()
        self.set_wake(cell, None)

    async def _record(self, cell: Cell, now: float, rec: FailureRecord, outcome: str, delay: float = 0.0) -> None:
        events = failure_events(cell.controller.status_of(cell.state), cell.state, rec, outcome=outcome,
                                retry_in=delay, now=now)
        if cell.controller.companion:  # narrative only: the resource's status is its own controller's
            events = [e for e in events if not isinstance(e, StatusUpdated)]
        try:
            await self.writer.record_events(cell, now, events)
        except (Conflict, corelog.Unavailable) as e:
            log.warning("could not record failure", **_ids(cell), error=str(e))
            return
        if rec.quarantined:
            self.book.put(cell.key, msgspec.structs.replace(rec, announced=True))

    def spec_changed(self, cell: Cell, seq: int) -> None:
        """A new spec lifts a quarantine (and a terminal failure): decide it afresh."""
        rec = self.book.records.get(cell.key)
        if rec is not None and seq > rec.hwm:
            self.book.release(cell.key)
            cell.failures = 0
            log.info("quarantine lifted by a spec change", **_ids(cell), seq=seq)

    def set_wake(self, cell: Cell, when: float | None) -> None:
        if cell.wake_at != when:
            cell.wake_at = when
            cell.version += 1
        if when is not None:
            self.timers.push(when, cell.key)

    def forget(self, key: str) -> None:
        """A passivated actor's pending links go with it (`key`: its `Cell.key`)."""
        self.traces.pop(key, None)

    def drop(self, partitions: set[int]) -> None:
        n = self.timers.partitions
        for token in [t for t in self.traces if partition_of_token(t, n) in partitions]:
            del self.traces[token]
