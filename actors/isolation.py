"""The host's side of failure isolation: fold under the watchdog, the quarantine book at start.

`fold` hands a delivered message to the kernel (`actors.kernel.fold`: seen, poisoned, an operator's
retry, folded under the budget, or broken) and carries out what it says: an overrun evolve quarantines
the resource (`actors.failures.evolve_overran`), a retry or a new spec lifts its record. `start` loads the
book and turns what the in-flight file says about the previous process (it died inside a step) into a
record (`failures.crashed`), so catch-up runs that step once more at most.
"""
from __future__ import annotations

import time

import structlog
from nats.js.kv import KeyValue

from actors import failures, kernel
from actors.cells import Cell
from actors.effects import ids
from actors.failures import FailureRecord, Overrun
from actors.reconciler import Reconciler
from core.events import Event
from core.log import StoredMessage
from core.metrics import RECONCILE_FAILURES

log = structlog.get_logger("bosun.controller")
_fold, FOLDED = kernel.fold, kernel.FOLDED  # every delivery: no module lookups


class Isolation:
    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.book = reconciler.book
        self.watchdog = reconciler.watchdog

    async def start(self, kv: KeyValue, last_seq: int) -> list[str]:
        """Load the book, record the crash the previous process left; the actors (`Cell.key`) to announce."""
        await self.book.open(kv)
        crash = self.watchdog.inflight.take()
        if crash is not None:
            rec = failures.crashed(self.book.records.get(crash.token), crash, last_seq, time.time())
            log.error("the previous controller process died inside a step", token=crash.token, step=crash.step,
                      reason=crash.reason, count=rec.count, quarantined=rec.quarantined)
            RECONCILE_FAILURES.labels(crash.token.split(".", 1)[0], crash.reason).inc()
            self.book.put(crash.token, rec)
        return [t for t, r in self.book.records.items() if r.quarantined and not r.announced]

    def fold(self, cell: Cell, stored: StoredMessage, event: Event) -> bool:
        """Fold one delivered message; False when there was nothing new to fold."""
        records = self.book.records
        held = records.get(cell.key) if records else None  # keyed by actor (a companion's `<token>.<name>`)
        seq = stored.seq
        folded = _fold(cell, seq, stored.subject, event, held, self.watchdog.call)
        if folded is FOLDED:
            if held is not None and kernel.lifts(held, seq, stored.subject, folded):
                self.reconciler.lift(cell, seq, "a spec change")
            return True
        if folded is kernel.RETRIED:
            if held is not None and kernel.lifts(held, seq, stored.subject, folded):
                self.reconciler.lift(cell, seq, "a retry")
        elif folded is kernel.POISONED:
            log.warning("poisoned event not folded again", **ids(cell), seq=seq)
        elif isinstance(folded, kernel.Broken):
            self._broken(cell, held, seq, folded.error)
        return False

    def _broken(self, cell: Cell, held: FailureRecord | None, seq: int, error: BaseException) -> None:
        if not isinstance(error, Overrun):
            log.error("evolve failed; event skipped", **ids(cell), seq=seq, error=repr(error))
            RECONCILE_FAILURES.labels(cell.ref.kind, "exception").inc()
            return
        rec = failures.evolve_overran(held, seq, error, time.time())  # announced at its next decide
        log.error("evolve overran its budget; event skipped, resource quarantined", **ids(cell), seq=seq)
        RECONCILE_FAILURES.labels(cell.ref.kind, error.reason).inc()
        self.reconciler.stats["failures"] += 1
        self.book.put(cell.key, rec)
