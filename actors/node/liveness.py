"""The node lifecycle controller's pure core: which nodes' heartbeats are late, and which verdicts change.

Beats are timed by their arrival on the controller's own clock (a beat is "new" when its key's value
changed), never by the agent's clock: a machine whose clock is off is still judged fairly. A node first
seen (a controller that just started) gets a full timeout before it can be judged lost.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Beats:
    """node -> (the value of its heartbeat key, when that value was first seen)."""

    seen: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def observe(self, entries: Mapping[str, bytes], now: float) -> None:
        """Fold one reading of the bucket: a changed value is a beat now; a key gone is forgotten."""
        for node, value in entries.items():
            last = self.seen.get(node)
            if last is None or last[0] != value:
                self.seen[node] = (value, now)
        for node in [n for n in self.seen if n not in entries]:
            del self.seen[node]

    def arrived(self) -> dict[str, float]:
        return {node: at for node, (_, at) in self.seen.items()}


def verdicts(arrived: Mapping[str, float], recorded: Mapping[str, bool], now: float,
             timeout: float) -> list[tuple[str, bool]]:
    """(node, lost) for every node whose verdict differs from the one the log holds (`recorded`, default
    not lost): lost once its last beat is older than `timeout`, found again once a beat arrived since."""
    out = []
    for node, at in sorted(arrived.items()):
        lost = now - at > timeout
        if lost != recorded.get(node, False):
            out.append((node, lost))
    return out
