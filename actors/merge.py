"""Several consumers' deliveries as one stream, in sequence order (pure, no I/O).

Why: a host reading only its partitions has one consumer per partition plus one per publisher kind (the
pools every host folds, `actors.sharing`). A deployment's own events come from its partition's consumer
and the pools' answers to it from a pools' consumer; its fold must see them in stream order, as replay
does, or a later message would hide an earlier one (`Cell.seen`) and replay would disagree.

Each source has a `bound`: every message of its filter up to there has been received. A new delivery
raises it (consumers deliver in stream order; `Continuity` catches a lost one); `certify` raises it for
a quiet source, from the stream itself (`actors.intake`). Everything at or below the lowest bound, the
`frontier`, can be handed on in order: no source can still deliver anything below it, but a redelivery.
"""
from __future__ import annotations

from collections import deque

from actors.continuity import Continuity
from core.feed import Delivery


class _Source:
    __slots__ = ("again", "bound", "buffer", "continuity")

    def __init__(self, bound: int) -> None:
        self.buffer: deque[Delivery] = deque()
        """New deliveries, in increasing sequence."""
        self.again: list[Delivery] = []
        """Redeliveries (at or below the bound): handed on with the frontier, cells skip what they folded."""
        self.bound = bound
        self.continuity = Continuity()


Merged = tuple[Delivery, list[tuple[str, Delivery]]]
"""One message, and every (source, delivery) of it: each source's delivery is acked on its own."""


class Merge:
    def __init__(self, start: int) -> None:
        self.start = start
        self.sources: dict[str, _Source] = {}

    def add(self, name: str) -> None:
        """A consumer created at `start`: nothing of it received yet."""
        self.sources[name] = _Source(self.start - 1)

    def remove(self, name: str) -> None:
        self.sources.pop(name, None)

    def push(self, name: str, deliveries: list[Delivery]) -> bool:
        """Take a source's deliveries; False at a lost one (nothing past it is taken)."""
        source = self.sources.get(name)
        if source is None:
            return True  # a source removed while its deliveries were in flight
        for delivery in deliveries:
            if not source.continuity.follows(delivery.consumer_seq):
                return False
            seq = delivery.stored.seq
            if seq <= source.bound:
                source.again.append(delivery)
            else:
                source.buffer.append(delivery)
                source.bound = seq
        return True

    def certify(self, name: str, bound: int) -> None:
        """The stream shows nothing of this source's filter in (bound so far, `bound`] it has not delivered."""
        source = self.sources.get(name)
        if source is not None and bound > source.bound:
            source.bound = bound

    @property
    def frontier(self) -> int:
        """Every source has delivered everything up to here."""
        return min((s.bound for s in self.sources.values()), default=self.start - 1)

    def behind(self, goal: int) -> list[str]:
        """Sources whose bound holds the frontier below `goal` (the ones worth certifying)."""
        return [name for name, s in self.sources.items() if s.bound < goal]

    def held(self, name: str) -> int:
        """Deliveries of a source received but not yet handed on."""
        source = self.sources.get(name)
        return len(source.buffer) + len(source.again) if source else 0

    @property
    def newest(self) -> int:
        """The highest sequence received from any source (what the frontier must reach to hand it on)."""
        return max((s.buffer[-1].stored.seq for s in self.sources.values() if s.buffer), default=0)

    def pop(self) -> list[Merged]:
        """Everything up to the frontier, in sequence order, one entry per message."""
        frontier = self.frontier
        taken: list[tuple[int, str, Delivery]] = []
        for name, source in self.sources.items():
            if source.again:  # those still above the frontier wait for it (a resend of one not handed on yet)
                taken += [(d.stored.seq, name, d) for d in source.again if d.stored.seq <= frontier]
                source.again = [d for d in source.again if d.stored.seq > frontier]
            buffer = source.buffer
            while buffer and buffer[0].stored.seq <= frontier:
                d = buffer.popleft()
                taken.append((d.stored.seq, name, d))
        if len(self.sources) > 1:
            taken.sort(key=_seq)
        out: list[Merged] = []
        last = -1
        for seq, name, d in taken:
            if seq == last:
                out[-1][1].append((name, d))
            else:
                out.append((d, [(name, d)]))
                last = seq
        return out


def _seq(item: tuple[int, str, Delivery]) -> int:
    return item[0]
