"""The ack ledger: which delivered messages every target actor has folded, and how far acks may go.

Pure (no I/O). Deliveries arrive in stream order; a message is done once each of its target actors
folded (and decided on) it. The host acks cumulatively (AckAll) up to the newest delivery below the
oldest one still pending, so the ack floor is always a safe checkpoint.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class _Stored(Protocol):
    @property
    def seq(self) -> int: ...


class _Delivered(Protocol):
    @property
    def stored(self) -> _Stored: ...


D = TypeVar("D", bound=_Delivered)


class AckLedger(Generic[D]):
    def __init__(self) -> None:
        self.pending: dict[int, int] = {}
        """Stream seq -> targets that have not folded it yet."""
        self.unacked: deque[D] = deque()
        """Deliveries not yet covered by an ack, in stream order."""

    def delivered(self, delivery: D) -> None:
        """Every delivery enters the ledger, even those no actor of ours receives (they ack with the rest)."""
        self.unacked.append(delivery)

    def expect(self, seq: int, targets: int) -> None:
        """`seq` goes to `targets` actors: it is not done until each of them called `done`."""
        self.pending[seq] = targets

    def done(self, seq: int) -> None:
        """One target of `seq` has folded (and decided on) it."""
        left = self.pending.get(seq)
        if left is None:
            return
        if left <= 1:
            del self.pending[seq]
        else:
            self.pending[seq] = left - 1

    def forget(self, seqs: Iterable[int]) -> None:
        """Targets that will never fold these (their actor was dropped with its partition): done for them."""
        for seq in seqs:
            self.done(seq)

    def releasable(self) -> D | None:
        """The newest delivery of the done prefix (popped): the one an AckAll should name, or None."""
        last: D | None = None
        unacked, pending = self.unacked, self.pending
        while unacked and unacked[0].stored.seq not in pending:
            last = unacked.popleft()
        return last

    @property
    def in_flight(self) -> int:
        """Deliveries not yet acked: what the server counts against max_ack_pending."""
        return len(self.unacked)

    @property
    def busy(self) -> bool:
        """Some delivered message is still being folded by an actor."""
        return bool(self.pending)
