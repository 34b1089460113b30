"""The node door's memory of which replicas were assigned to which node: a bounded cache of the log.

The truth is the log: a replica is assigned to a node when a `StartOnNode` for it is on the node's command
subject for its resource (`bosun.cmd.node-<NAME>.<target>`). The door reads that subject on a miss and keeps
what it found here, so the next report of the same replica costs no read. Forgetting an entry therefore costs
one read again, never a wrongly accepted report: the cache only ever holds what the log said.

It was a set that only grew (every replica ever started on any node, for the gateway's whole life). Now:
- a replica's final report (stopped, lost: evicted replicas are reported stopped by their agent) forgets it;
- at most `cap` entries, least recently used out first (a replica that never says goodbye, a node that
  vanished with its replicas, a stopped replica read back from the subject's history on a later miss).
"""
from __future__ import annotations

from collections import OrderedDict

CAP = 50_000
"""Entries kept at most: about 10 MB, the replicas of 1,000 nodes running 50 each."""

Key = tuple[str, str, str]
"""(node, resource token, replica)."""


class Assignments:
    def __init__(self, cap: int = CAP) -> None:
        if cap < 1:
            raise ValueError("an assignment cache holds at least one entry")
        self.cap = cap
        self._entries: OrderedDict[Key, None] = OrderedDict()
        """Least recently used first."""
        self._pairs: dict[tuple[str, str], int] = {}
        """(node, resource token) -> how many of its replicas are held: a load figure needs any one."""

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def holds(self, node: str, target: str, replica: str | None) -> bool:
        """Known assigned: that replica of `target` on `node` (None: any replica of `target` there)."""
        if replica is None:
            return self._pairs.get((node, target), 0) > 0
        key = (node, target, replica)
        if key not in self._entries:
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, node: str, target: str, replica: str) -> None:
        """Remember an assignment read from the log (the most recently used), evicting the oldest past `cap`."""
        key = (node, target, replica)
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        self._entries[key] = None
        self._pairs[(node, target)] = self._pairs.get((node, target), 0) + 1
        while len(self._entries) > self.cap:
            oldest, _ = self._entries.popitem(last=False)
            self._drop_pair(oldest)

    def forget(self, node: str, target: str, replica: str) -> None:
        """The replica ended (its node said so): drop it, if held."""
        key = (node, target, replica)
        if key in self._entries:
            del self._entries[key]
            self._drop_pair(key)

    def _drop_pair(self, key: Key) -> None:
        pair = (key[0], key[1])
        left = self._pairs.get(pair, 0) - 1
        if left > 0:
            self._pairs[pair] = left
        else:
            self._pairs.pop(pair, None)
