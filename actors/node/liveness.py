"""The node lifecycle controller's pure core: which nodes' heartbeats are late, which verdicts change, and
which lost nodes are due for eviction.

Beats are timed by their arrival on the controller's own clock (a beat is "new" when its key's value
changed), never by the agent's clock: a machine whose clock is off is still judged fairly. A node first
seen (a controller that just started) gets a full timeout before it can be judged lost, and a node the log
says is lost is not found again by that first sight: only a beat that arrives while we watch brings it back.
A node whose replicas were evicted comes back only with a beat that carries the eviction's fence (its agent
stopped them first).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["lost", "resumed", "evict"]


@dataclass(frozen=True)
class Beat:
    """The last value of a node's heartbeat key as this controller saw it."""

    value: bytes
    at: float
    """When that value was first seen (our clock)."""
    fresh: bool = False
    """It changed while we watched: a real beat, not what the key held when we started."""
    fence: int = 0
    """The eviction fence the agent says it has reached (`core.nodes.Heartbeat.fence`)."""


@dataclass(frozen=True)
class Recorded:
    """What the log holds for a node on the lifecycle slice (its last verdict)."""

    lost: bool = False
    seq: int = 0
    """The sequence of that verdict (the expected last sequence of the next one); 0: none yet."""
    fence: int = 0
    """Its replicas were evicted in this loss, by the command at this stream sequence; 0: not (yet)."""


@dataclass
class Beats:
    """node -> its last beat."""

    seen: dict[str, Beat] = field(default_factory=dict)

    def observe(self, entries: Mapping[str, bytes], now: float, fence_of: Mapping[str, int] | None = None) -> None:
        """Fold one reading of the bucket: a changed value is a beat now; a key gone is forgotten.
        `fence_of`: the fence each value carries (decoded by the caller)."""
        fences = fence_of or {}
        for node, value in entries.items():
            last = self.seen.get(node)
            if last is None or last.value != value:
                self.seen[node] = Beat(value, now, fresh=last is not None, fence=fences.get(node, 0))
        for node in [n for n in self.seen if n not in entries]:
            del self.seen[node]

    def arrived(self) -> dict[str, float]:
        return {node: b.at for node, b in self.seen.items()}


def verdicts(beats: Mapping[str, Beat], recorded: Mapping[str, Recorded], now: float, timeout: float,
             eviction: float | None = None) -> list[tuple[str, Verdict]]:
    """(node, verdict) for every node whose state in the log must change: `lost` once its last beat is older
    than `timeout`; `evict` once it is older than `timeout + eviction` and its replicas were not evicted yet
    (None: never); `resumed` once a beat arrived since (reaching the eviction's fence, if there was one)."""
    out: list[tuple[str, Verdict]] = []
    for node, beat in sorted(beats.items()):
        rec = recorded.get(node, Recorded())
        late = now - beat.at > timeout
        if not rec.lost:
            if late:
                out.append((node, "lost"))
        elif beat.fresh and not late and beat.fence >= rec.fence:
            out.append((node, "resumed"))
        elif not rec.fence and eviction is not None and now - beat.at > timeout + eviction:
            out.append((node, "evict"))
    return out
