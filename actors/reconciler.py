"""Deciding: one resource's `decide`, the append of its decision, and carrying out a failed step.

The kernel and the failure policy say what happens (`actors.kernel.decide`: a Decision or a `Failure`;
`actors.failures.fenced`/`unreachable` for a write the log refused or could not take, `parked` for a
quarantined actor); this module does it: runs `decide` under the watchdog's budget, appends
(`actors.effects`), records a failure in the resource's status and in the quarantine book
(`actors.quarantine`), counts it, logs it, and sets the cell's next wake-up in the timer queue.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import structlog

from actors import failures, kernel
from actors.cells import Cell
from actors.decisions import Reading
from actors.effects import DecisionWriter
from actors.effects import ids as _ids
from actors.failures import FailureRecord
from actors.partitions import partition_of_token
from actors.quarantine import QuarantineBook
from actors.telemetry import reconciling
from actors.timers import TimerQueue
from actors.views import ViewBoard
from actors.watchdog import Watchdog
from core import log as corelog
from core.log import Conflict, Log
from core.metrics import RECONCILE_FAILURES

log = structlog.get_logger("bosun.controller")

MAX_LINKS = 64
"""Traceparents a reconcile span links to at most."""


class Reconciler:
    def __init__(self, lg: Log, stats: dict[str, int], timers: TimerQueue, views: ViewBoard, *,
                 book: QuarantineBook | None = None, watchdog: Watchdog | None = None,
                 may_write: Callable[[Cell], bool] | None = None) -> None:
        self.stats = stats
        self.book = book or QuarantineBook()
        self.watchdog = watchdog or Watchdog()
        self.timers = timers
        self.views = views
        self.writer = DecisionWriter(lg, stats, may_write)
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
        if failures.parked(held):
            assert held is not None
            if not held.announced:
                await self._record(cell, now, held, "quarantined")
            cell.causes.clear()
            return  # parked: nothing is decided until its spec changes or a retry is asked
        context = Reading.of_board(self.views.context, cell.controller.behaviour)
        outcome = kernel.decide(cell, now, context, held, self.watchdog.call)
        if isinstance(outcome, kernel.Failure):
            await self.failed(cell, now, outcome)
            return
        self.stats["decisions"] += 1
        try:
            await self.writer.execute(cell, outcome, now, context)
            self.views.publish(cell)
        except Conflict as e:
            await self.failed(cell, now, failures.fenced(e, token=cell.ref.token, failures=cell.failures, now=now))
            return
        except corelog.Unavailable as e:
            await self.failed(cell, now, failures.unreachable(e, token=cell.ref.token, failures=cell.failures,
                                                              now=now))
            return
        if held is not None:
            self.book.release(token)  # a crash counted against it was not its fault after all
        self.set_wake(cell, kernel.settle(cell, outcome))

    async def failed(self, cell: Cell, now: float, failure: failures.Failure) -> None:
        """Carry out a failed step: count and log it, record it (status, quarantine book), wake it later."""
        if failure.reason == "conflict":
            self.stats["conflicts"] += 1
            log.warning("write fenced: actor is behind the log; deciding again later", **_ids(cell),
                        error=str(failure.error))
        else:
            self.stats["failures"] += 1
            what = {"quarantined": "resource quarantined", "failed": "reconcile failed terminally"}
            log.error(what.get(failure.outcome, "reconcile failed"), **_ids(cell), reason=failure.reason,
                      attempt=failure.record.count if failure.record else failure.failures,
                      retry_in=round(failure.retry_in, 2), error=repr(failure.error))
        rec = failure.record
        if rec is not None:
            RECONCILE_FAILURES.labels(cell.ref.kind, rec.reason).inc()
            if failure.keep:
                self.book.put(cell.key, rec)
            await self._record(cell, now, rec, failure.outcome, failure.retry_in)
        self.set_wake(cell, kernel.settle(cell, failure))

    async def _record(self, cell: Cell, now: float, rec: FailureRecord, outcome: str, delay: float = 0.0) -> None:
        try:
            await self.writer.record_events(cell, now, kernel.records(cell, rec, outcome, delay, now))
        except (Conflict, corelog.Unavailable) as e:
            log.warning("could not record failure", **_ids(cell), error=str(e))
            return
        if rec.quarantined:
            self.book.put(cell.key, msgspec.structs.replace(rec, announced=True))

    def lift(self, cell: Cell, seq: int, why: str) -> None:
        """A new spec or an operator's retry lifts a quarantine (and a terminal failure): decide it afresh."""
        self.book.release(cell.key)
        log.info(f"quarantine lifted by {why}", **_ids(cell), seq=seq)

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
