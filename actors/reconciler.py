"""Deciding: one resource's `decide`, the append of its decision, failure isolation and retry backoff.

A decide that raises marks that one resource Degraded and retries it with backoff; a write fenced by
the log (the actor is behind) decides again shortly; the log being unreachable retries without a
record. Every outcome sets the cell's next wake-up in the timer queue.
"""
from __future__ import annotations

import time

import structlog

from actors.cells import Cell
from actors.decisions import backoff
from actors.effects import DecisionWriter
from actors.effects import ids as _ids
from actors.partitions import partition_of_token
from actors.telemetry import reconciling
from actors.timers import TimerQueue
from actors.views import ViewBoard
from core import log as corelog
from core.log import Conflict, Log

log = structlog.get_logger("bosun.controller")

MAX_LINKS = 64
"""Traceparents a reconcile span links to at most."""


class Reconciler:
    def __init__(self, lg: Log, stats: dict[str, int], timers: TimerQueue, views: ViewBoard) -> None:
        self.stats = stats
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
        context = self.views.context
        try:
            decision = cell.controller.decide(cell.state, now, context)
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
        self.set_wake(cell, decision.wake_at)

    async def _failed(self, cell: Cell, now: float, error: BaseException, record: bool = True) -> None:
        """Mark this one resource Degraded, record why, and retry with backoff."""
        cell.failures += 1
        self.stats["failures"] += 1
        delay = backoff(cell.failures, cell.ref.token, base=1.0, cap=60.0)
        log.error("reconcile failed", **_ids(cell), attempt=cell.failures, retry_in=round(delay, 2),
                  error=repr(error))
        if record:
            try:
                await self.writer.record_failure(cell, now, error, delay)
            except (Conflict, corelog.Unavailable) as e:
                log.warning("could not record failure", **_ids(cell), error=str(e))
        self.set_wake(cell, now + delay)

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
