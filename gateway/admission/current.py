"""A resource's spec-slice state as admission sees it: absent, live, being deleted, or gone.

Read straight from the log (never the read model), so optimistic concurrency compares against the
truth: the last spec event's stream sequence is the resourceVersion.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

from core import headers as H
from core import subjects
from core.events import DeletionRequested, FinalizerRemoved, SpecApplied, tag_of
from core.kinds import KindInfo
from core.log import Log, StoredMessage
from core.names import Ref
from gateway.envelope import event_of

State = Literal["absent", "live", "deleting", "gone"]
_FINALIZER_REMOVED = tag_of(FinalizerRemoved)


@dataclass(frozen=True)
class Current:
    seq: int
    """Stream sequence of the last spec event (0 when there is none): the resourceVersion."""
    state: State
    generation: int = 0
    spec: dict[str, object] | None = None
    labels: dict[str, str] | None = None
    msg_id: str = ""
    """The last spec message's `Nats-Msg-Id`: which request wrote it (`requests.py`)."""
    created: bool = False
    """The last SpecApplied created the resource."""

    @property
    def next_generation(self) -> int:
        return self.generation + 1


async def read(log: Log, info: KindInfo, ref: Ref) -> Current:
    return await from_last(log, info, ref, await log.last(subjects.spec(ref)))


async def from_last(log: Log, info: KindInfo, ref: Ref, last: StoredMessage | None) -> Current:
    """The Current of `ref` given its last spec message (e.g. from a namespace-wide snapshot).

    When that message is not a spec event in a valid envelope, the state is that of the last one that is,
    but the resourceVersion stays the subject's last sequence (what the next append is checked against)."""
    if last is None:
        return Current(0, "absent")
    event = event_of(info, last)
    if not isinstance(event, (SpecApplied, DeletionRequested)):
        event = await last_valid(log, info, ref, last.seq)
    msg_id = last.headers.get(H.MSG_ID, "")
    if isinstance(event, SpecApplied):
        return Current(last.seq, "live", event.generation, event.spec, event.labels, msg_id, event.created)
    if isinstance(event, DeletionRequested):
        gone = await finalized(log, info, ref, last.seq)
        return Current(last.seq, "gone" if gone else "deleting", event.generation, msg_id=msg_id)
    return Current(last.seq, "absent")


async def last_valid(log: Log, info: KindInfo, ref: Ref,
                     before: int) -> SpecApplied | DeletionRequested | None:
    """The last spec event of `ref` before sequence `before` (a full read: only after a stray message)."""
    found: SpecApplied | DeletionRequested | None = None
    async with contextlib.aclosing(log.read(subjects.spec(ref), up_to_seq=before - 1)) as msgs:
        async for msg in msgs:
            event = event_of(info, msg)
            if isinstance(event, (SpecApplied, DeletionRequested)):
                found = event
    return found


async def finalized(log: Log, info: KindInfo, ref: Ref, deletion_seq: int) -> bool:
    """True once the kind's controller removed its finalizer after the deletion request.

    Kinds without a controller or finalizers are gone as soon as deletion is requested.
    """
    if not info.controller or not info.finalizers:
        return True
    async with contextlib.aclosing(log.read(subjects.ctl(ref, info.controller), start_seq=deletion_seq + 1)) as msgs:
        async for msg in msgs:
            if msg.headers.get(H.TYPE) == _FINALIZER_REMOVED:
                return True
    return False
