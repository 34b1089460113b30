"""The ack ledger: which delivered messages every target actor has folded, and how far acks may go.

Pure (no I/O). Each consumer (`source`) delivers in stream order; a message is done once each of its
target actors folded (and decided on) it. The host acks each consumer cumulatively (AckAll) up to its
newest delivery below the oldest one still pending. One message may come from two consumers (a pool's
events reach its partition's consumer and the pools' one): it is done for both at once.
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
        self.unacked: dict[str, deque[D]] = {}
        """Per consumer, deliveries not yet covered by an ack, in stream order."""

    def delivered(self, delivery: D, source: str = "") -> None:
        """Every delivery enters the ledger, even those no actor of ours receives (they ack with the rest)."""
        queue = self.unacked.get(source)
        if queue is None:
            queue = self.unacked[source] = deque()
        queue.append(delivery)

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

    def releasable(self, source: str = "") -> D | None:
        """The newest delivery of a consumer's done prefix (popped): the one an AckAll should name, or None."""
        last: D | None = None
        unacked, pending = self.unacked.get(source), self.pending
        while unacked and unacked[0].stored.seq not in pending:
            last = unacked.popleft()
        return last

    def oldest_pending(self) -> int:
        """The lowest sequence some actor has not folded yet (a huge number when none): the done floor's bound."""
        return min(self.pending, default=1 << 62)

    def drop_source(self, source: str) -> None:
        """A consumer given up (its partition lost): nothing of it is acked any more."""
        self.unacked.pop(source, None)

    def in_flight_of(self, source: str = "") -> int:
        """Deliveries of one consumer not yet acked: what the server counts against its max_ack_pending."""
        queue = self.unacked.get(source)
        return len(queue) if queue else 0

    @property
    def in_flight(self) -> int:
        return sum(len(q) for q in self.unacked.values())

    @property
    def busy(self) -> bool:
        """Some delivered message is still being folded by an actor."""
        return bool(self.pending)
