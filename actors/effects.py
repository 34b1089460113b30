"""Writing a decision to the log: the only place an actor's effects happen.

What is written, in which order, fenced how and under which id is the kernel's (`actors.kernel.writes`,
`fence`, `msg_id`): every write is fenced by the expected last sequence of the actor's own subject (ctl,
cmd) and carries a deterministic `Nats-Msg-Id`; each is folded into the cell as soon as JetStream acks it.
The first write of a decision also records the Context that `decide` read, so `replay --check` never
has to guess.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from actors import kernel
from actors.cells import Cell
from actors.decisions import Context, Decision, Reading, encode_recorded
from core import codec
from core import headers as H
from core.events import Event
from core.log import Appended, Conflict, Log, Unavailable

log = structlog.get_logger("bosun.controller")


class DecisionWriter:
    def __init__(self, lg: Log, stats: dict[str, int], may_write: Callable[[Cell], bool] | None = None) -> None:
        self.log = lg
        self.stats = stats
        self.may_write = may_write or (lambda cell: True)
        """Checked before every write: False once this host may no longer own the actor (its lease may lapse)."""
        self._context: tuple[tuple[tuple[Any, ...], ...], frozenset[str], int, str] = ((), frozenset(), 1, "")

    async def execute(self, cell: Cell, decision: Decision, now: float, context: Context) -> None:
        """Append the decision's writes in the kernel's order, each folded into the cell on ack."""
        common = {**kernel.stamp(cell), **cell.trace}
        if cell.causes:
            common[H.CAUSES] = ",".join(map(str, cell.causes[-64:]))
        recorded = self._context_json(context)
        first = {**common, H.CONTEXT: recorded} if recorded else common
        for i, write in enumerate(kernel.writes(cell, decision)):
            base = first if i == 0 else common
            await self.append(cell, write, now, {**base, **write.headers} if write.headers else base)
        if not decision.empty:
            log.debug("decided", **ids(cell), events=len(decision.events), messages=len(decision.messages),
                      commands=len(decision.commands))

    async def append(self, cell: Cell, write: kernel.Write, now: float, extra: dict[str, str]) -> None:
        """One write, fenced and deduplicated as the kernel says; folded into the cell once stored."""
        if not self.may_write(cell):  # the rest of the decision is abandoned, as a crash would leave it
            raise Unavailable(f"{cell.ref.token}: this host's partition lease may lapse; not written")
        expected = kernel.fence(cell, write)
        done = await self.log.append(write.subject, write.event, now=now, expected_last_subject_seq=expected,
                                     msg_id=kernel.msg_id(cell, write, expected), extra=extra)
        await self._ours(done, write.event)
        kernel.own(cell, done.seq, write.subject, write.event)
        self.stats["appends"] += 1

    async def append_ctl(self, cell: Cell, event: Event, now: float, extra: dict[str, str]) -> None:
        """One event on the actor's own ctl slice (the runtime's records; a decision's go through `execute`)."""
        (write,) = kernel.writes(cell, Decision(events=(event,)))
        await self.append(cell, write, now, {**extra, **write.headers} if write.headers else extra)

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

    async def record_events(self, cell: Cell, now: float, events: list[Event]) -> None:
        """Append the runtime's own events (failures, quarantine) on the actor's ctl slice."""
        for ev in events:
            await self.append_ctl(cell, ev, now, {H.CONTROLLER: cell.controller.name, H.ORIGIN: "runtime"})

    def _context_json(self, context: Context) -> str:
        """The header value recording what `decide` read ("" for nothing): a `Reading` records only the kinds
        it read. Encoded once per kinds read and their views (a board keeps a kind's tuple while none of its
        views changes: most decisions in a row share both, whatever other kinds did meanwhile)."""
        board, read = context, frozenset(context.views)
        if isinstance(context, Reading):
            board, read = context.board, frozenset(context.read)
        kinds = [k for k in board.views if k in read]
        held = tuple(board.views[k] for k in kinds)
        last, behaviour = self._context, context.behaviour
        if last[1] != read or last[2] != behaviour or len(last[0]) != len(held) or any(
                a is not b for a, b in zip(last[0], held, strict=True)):
            recorded = Context(views=dict(zip(kinds, held, strict=True)), behaviour=behaviour)
            value = encode_recorded(codec.encode_json(recorded)) if held or behaviour != 1 else ""
            self._context = (held, read, behaviour, value)
        return self._context[3]

def ids(cell: Cell) -> dict[str, Any]:
    return {"kind": cell.ref.kind, "namespace": cell.ref.namespace, "name": cell.ref.name, "hwm": cell.hwm}
