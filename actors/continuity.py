"""Did our consumer deliver every message? The guard that keeps a cumulative ack from acking a lost one.

Why: the host's consumer is unfiltered and acks cumulatively (`AckPolicy.ALL`). When the nats-server our
connection goes through dies (kill -9 of a node), deliveries already counted by the consumer's leader
(on another node) but still in that server's buffers never arrive; the leader then goes on with the next
ones, and our next ack covers the lost ones too — they would never be folded, and their resources would
stall (the rare non-convergence after a stream leader's kill -9, issue #11). The stream holds every
sequence from the start on (nothing deletes from it but an operator), so a delivery past the next
expected sequence is a gap: unless a direct get shows the range really is empty (deleted), the host
starts its run over from the partition checkpoints, which refolds the lost messages. Redeliveries
(sequences already seen, e.g. from a new consumer leader) are not gaps: cells skip what they folded.
"""
from __future__ import annotations

import contextlib

import structlog

from core.log import TRANSIENT_READ, Log

log = structlog.get_logger("bosun.controller")


class Continuity:
    def __init__(self, start: int) -> None:
        self.expected = max(1, start)
        """The stream sequence the next new delivery must carry."""
        self.gaps = 0

    def follows(self, seq: int) -> bool:
        """True for the next sequence or a redelivery (and moves on); False for a gap, left to `confirm`."""
        if seq > self.expected:
            return False
        self.expected = max(self.expected, seq + 1)
        return True

    async def confirm(self, seq: int, lg: Log) -> bool:
        """A delivery of `seq` after a gap: True when the stream holds nothing in between (deleted messages;
        we move on), False when it does (or cannot tell): those deliveries were lost."""
        missing = None
        with contextlib.suppress(*TRANSIENT_READ):
            async with contextlib.aclosing(lg.read(">", self.expected, seq - 1, batch=1)) as found:
                async for m in found:
                    missing = m.seq
                    break
                else:
                    self.expected = seq + 1
                    return True
        self.gaps += 1
        log.warning("deliveries lost in flight (a server died with them); starting over from the checkpoints",
                    expected=self.expected, delivered=seq, first_missing=missing)
        return False
