"""Did a consumer deliver every message? The guard that keeps a cumulative ack from acking a lost one.

Why: the host's consumers ack cumulatively (`AckPolicy.ALL`). When the nats-server our connection goes
through dies (kill -9 of a node), deliveries already counted by the consumer's leader (on another node)
but still in that server's buffers never arrive; the leader then goes on with the next ones, and our
next ack covers the lost ones too — they would never be folded, and their resources would stall (the
rare non-convergence after a stream leader's kill -9, issue #11). The consumer numbers every delivery
(the consumer sequence in the ack subject, redeliveries included), so a delivery past the next expected
number is a loss — filters and deleted messages leave no gap there. The host then starts its run over
from the partition checkpoints, which refolds the lost messages. A number at or below the last one
(a new consumer leader resending from its replicated state) is a redelivery: cells skip what they folded.
"""
from __future__ import annotations


class Continuity:
    __slots__ = ("expected", "gaps")

    def __init__(self) -> None:
        self.expected = 1
        """The consumer sequence the next new delivery must carry (consumers are made fresh every run)."""
        self.gaps = 0

    def follows(self, consumer_seq: int) -> bool:
        """True for the next delivery or a redelivery (and moves on); False for a gap."""
        if consumer_seq > self.expected:
            self.gaps += 1
            return False
        self.expected = max(self.expected, consumer_seq + 1)
        return True
