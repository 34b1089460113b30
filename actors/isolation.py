"""The host's side of failure isolation: evolve under the watchdog, the quarantine book at start.

`fold` runs a kind's `evolve` under the budget and skips an event whose evolve is known to be poisoned
(quarantined: it overran, or the process died in it twice); a spec change lifts a quarantine. `start`
loads the book and turns what the in-flight file says about the previous process (it died inside a
step) into a record, so catch-up runs that step once more at most.
"""
from __future__ import annotations

import time

import msgspec
import structlog
from nats.js.kv import KeyValue

from actors.cells import Cell
from actors.effects import ids
from actors.failures import CRASHES_TO_QUARANTINE, next_record
from actors.reconciler import Reconciler
from actors.watchdog import Crash, Overrun
from core.events import Event, RetryRequested
from core.log import StoredMessage
from core.metrics import RECONCILE_FAILURES

log = structlog.get_logger("bosun.controller")


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
            self._crashed(crash, last_seq)
        return [t for t, r in self.book.records.items() if r.quarantined and not r.announced]

    def _crashed(self, crash: Crash, last_seq: int) -> None:
        previous = self.book.records.get(crash.token)
        message = crash.message or "the controller process died during this step"
        rec = next_record(previous, step=crash.step, reason=crash.reason, message=message, now=time.time(),
                          hwm=max(last_seq, crash.seq), seq=crash.seq if crash.step == "evolve" else 0)
        quarantined = rec.quarantined or crash.reason != "crash" or rec.count >= CRASHES_TO_QUARANTINE
        rec = msgspec.structs.replace(rec, quarantined=quarantined, announced=False)
        log.error("the previous controller process died inside a step", token=crash.token, step=crash.step,
                  reason=crash.reason, count=rec.count, quarantined=quarantined)
        RECONCILE_FAILURES.labels(crash.token.split(".", 1)[0], crash.reason).inc()
        self.book.put(crash.token, rec)

    def fold(self, cell: Cell, stored: StoredMessage, event: Event) -> bool:
        """Fold one delivered event under the budget; False when it was skipped."""
        records = self.book.records
        token = cell.key  # keyed by actor (a companion's `<token>.<name>`), not by resource
        rec = records.get(token) if records else None
        # Only a quarantined evolve is skipped: one process death inside it may be a kill -9 of the whole
        # tree, and skipping that event would lose an intent. A second death on it quarantines it (`_crashed`).
        if rec is not None and rec.step == "evolve" and rec.seq == stored.seq and rec.quarantined:
            log.warning("poisoned event not folded again", **ids(cell), seq=stored.seq)
            return False
        if isinstance(event, RetryRequested):  # the runtime's business: the kind never sees it
            cell.hwm = stored.seq
            cell.causes.append(stored.seq)
            cell.failures = 0
            if rec is not None and stored.seq > rec.hwm:
                self.book.release(token)
                log.info("quarantine lifted by a retry", **ids(cell), seq=stored.seq)
            return False
        try:
            self.watchdog.call(token, "evolve", stored.seq, cell.fold_delivered, stored.seq, stored.subject,
                               event)
        except Overrun as e:
            self._evolve_overran(cell, stored.seq, e)
            return False
        except Exception as e:  # noqa: BLE001 - isolate: one bad fold marks one resource
            log.error("evolve failed; event skipped", **ids(cell), seq=stored.seq, error=repr(e))
            RECONCILE_FAILURES.labels(cell.ref.kind, "exception").inc()
            return False
        if rec is not None and stored.subject.endswith(".spec"):
            self.reconciler.spec_changed(cell, stored.seq)
        return True

    def _evolve_overran(self, cell: Cell, seq: int, e: Overrun) -> None:
        """The event cannot be folded: quarantine the resource (announced at its next decide)."""
        previous = self.book.records.get(cell.key)
        rec = next_record(previous, step="evolve", reason=e.reason, message=str(e), now=time.time(),
                          hwm=seq, seq=seq)
        log.error("evolve overran its budget; event skipped, resource quarantined", **ids(cell), seq=seq)
        RECONCILE_FAILURES.labels(cell.ref.kind, e.reason).inc()
        self.reconciler.stats["failures"] += 1
        self.book.put(cell.key, msgspec.structs.replace(rec, quarantined=True, announced=False))
        cell.causes.append(seq)  # so the host decides (announces) it
