"""Writing a decision to the log: the only place an actor's effects happen.

Every write is fenced by the expected last sequence of the actor's own subject (ctl, cmd) and carries a
deterministic `Nats-Msg-Id`; each is folded into the cell as soon as JetStream acks it. The first write
of a decision also records the Context that `decide` read, so `replay --check` never has to guess.
"""
from __future__ import annotations

from typing import Any

import structlog

from actors.cells import Cell
from actors.decisions import Context, Decision
from core import codec, subjects
from core import headers as H
from core.events import Condition, Event, ReconcileFailed, StatusUpdated
from core.log import Appended, Conflict, Log

log = structlog.get_logger("bosun.controller")


class DecisionWriter:
    def __init__(self, lg: Log, stats: dict[str, int]) -> None:
        self.log = lg
        self.stats = stats
        self._context: tuple[Context | None, str] = (None, "")

    async def execute(self, cell: Cell, decision: Decision, now: float, context: Context) -> None:
        """Append the decision in order: ctl events, inbox messages, commands."""
        common = {H.CONTROLLER: cell.controller.name, H.HWM: str(cell.hwm), **cell.trace}
        if cell.causes:
            common[H.CAUSES] = ",".join(map(str, cell.causes[-64:]))
        first = {**common, H.CONTEXT: self._context_json(context)} if context.views else common
        headers = iter([first])
        for event in decision.events:
            await self.append_ctl(cell, event, now, next(headers, common))
        for message in decision.messages:
            subject = subjects.inbox(message.to)
            extra = {**next(headers, common), H.SENDER: cell.ref.token}
            done = await self.log.append(subject, message.event, now=now, msg_id=message.key, extra=extra)
            await self._ours(done, message.event)
            cell.fold_own(done.seq, subject, message.event)
            self.stats["appends"] += 1
        for order in decision.commands:
            subject = subjects.cmd(order.driver, cell.ref)
            extra = {**next(headers, common), H.SENDER: cell.ref.token}
            done = await self.log.append(subject, order.command, now=now, msg_id=order.key, extra=extra,
                                         expected_last_subject_seq=cell.cmd_seqs.get(order.driver, 0))
            await self._ours(done, order.command)
            cell.fold_own(done.seq, subject, order.command)
            self.stats["appends"] += 1
        if not decision.empty:
            log.debug("decided", **ids(cell), events=len(decision.events), messages=len(decision.messages),
                      commands=len(decision.commands))

    async def append_ctl(self, cell: Cell, event: Event, now: float, extra: dict[str, str]) -> None:
        notify = getattr(event, "notify", None)
        if callable(notify):
            extra = {**extra, H.NOTIFY: notify()}
        expected = cell.ctl_seq
        done = await self.log.append(cell.ctl_subject, event, now=now, expected_last_subject_seq=expected,
                                     msg_id=f"{cell.key}/ctl/{expected}", extra=extra)
        await self._ours(done, event)
        cell.fold_own(done.seq, cell.ctl_subject, event)
        self.stats["appends"] += 1

    async def _ours(self, done: Appended, event: Event) -> None:
        """A write JetStream reports as a duplicate of an earlier one is ours only if the stored message
        holds what we wrote. Ids are deterministic (`<actor>/ctl/<expected seq>`, a message's key), so
        while two hosts briefly hold one partition (an old owner that has not yet seen its lease taken)
        the other host's different decision can carry our id: folding ours as if stored would leave this
        actor believing something the log does not say. Otherwise it is a conflict: decide again."""
        if not done.duplicate:
            return
        stored = await self.log.jsm.get_msg(self.log.stream, done.seq, direct=True)
        if stored.data != codec.encode(event):
            raise Conflict(f"seq {done.seq} holds another writer's message under the same id")

    async def record_failure(self, cell: Cell, now: float, error: BaseException, retry_in: float) -> None:
        """ReconcileFailed plus a Degraded status, marked as the runtime's own writes (not `decide`'s)."""
        events: list[Event] = [ReconcileFailed(error=repr(error)[:500], attempt=cell.failures, retry_in=retry_in)]
        current = cell.controller.status_of(cell.state)
        degraded = _degraded(current, repr(error)[:300], cell.state)
        owns_status = not cell.controller.companion  # a companion's failure is narrative only, never the status
        if owns_status and (current is None or current.phase != "Degraded"
                            or current.conditions != degraded.conditions):
            events.append(degraded)
        await self.record_events(cell, now, events)

    async def record_events(self, cell: Cell, now: float, events: list[Event]) -> None:
        """Append the runtime's own events (failures, quarantine) on the actor's ctl slice."""
        for ev in events:
            await self.append_ctl(cell, ev, now, {H.CONTROLLER: cell.controller.name, H.ORIGIN: "runtime"})

    def _context_json(self, context: Context) -> str:
        if self._context[0] is not context:
            self._context = (context, codec.encode_json(context).decode())
        return self._context[1]


def _degraded(current: StatusUpdated | None, error: str, state: Any) -> StatusUpdated:
    cond = Condition(type="Reconciled", status="False", reason="ReconcileError", message=error)
    base = current or StatusUpdated(observed_generation=getattr(state, "generation", 0), phase="Degraded")
    others = tuple(c for c in base.conditions if c.type != "Reconciled")
    return StatusUpdated(observed_generation=base.observed_generation, phase="Degraded",
                         conditions=(*others, cond), fields=base.fields)


def ids(cell: Cell) -> dict[str, Any]:
    return {"kind": cell.ref.kind, "namespace": cell.ref.namespace, "name": cell.ref.name, "hwm": cell.hwm}
