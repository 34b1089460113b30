"""When an agent cut off from the plane fences itself: stops every replica it runs on its own (pure).

The plane replaces a silent node's replicas once its heartbeat has been late for the node timeout and the node
NotReady for the eviction timeout more (`actors/node/lifecycle.py`). An agent that cannot reach the plane (a
network partition: the process runs, the network does not) cannot be told, so it keeps the same clock itself:
once no heartbeat of its own has been acknowledged (the gateway answers a beat after its KV put) for
`node timeout + eviction timeout`, it stops its replicas, so a long partition does not leave two copies serving
(Nomad's `stop_after_client_disconnect`).

Why exactly that long, with no safety margin either way. The plane counts from its first sight of the last beat
it stored, on its own clock, and judges once a second; the agent counts from the acknowledgement of that same
put (or of an earlier one, if the last acknowledgement was lost). So the agent fences at about the moment the
plane declares the replicas lost, at most a beat interval plus the plane's tick or two before, and always before
a replacement serves (it still has to be placed, started and found ready). Fencing earlier would stop replicas
on every short blip; fencing later would leave two copies serving. A partition that heals in that second or two
costs a replacement (the agent reports them stopped, their deployments start new ones), never two copies.

An agent that never had a beat acknowledged (an older gateway that does not answer beats, or it never reached
the plane in this life) never fences on its own: it cannot know it was ever counted.
"""
from __future__ import annotations

from core.nodes import JoinFile

NODE_TIMEOUT = 10.0
"""The plane's default node timeout (`bosun up --node-timeout`): a join file without one (an older `node join`)."""
EVICTION_TIMEOUT = 30.0
"""The plane's default eviction timeout (`bosun up --eviction-timeout`)."""


def fence_after(join: JoinFile, override: float | None = None) -> float:
    """Seconds without an acknowledged beat after which the agent stops its replicas: `override` (`bosun agent
    --fence-after`; 0 never), else the plane's timeouts as the join file carries them (the defaults when absent)."""
    if override is not None:
        return max(0.0, override)
    node = NODE_TIMEOUT if join.node_timeout is None else join.node_timeout
    eviction = EVICTION_TIMEOUT if join.eviction_timeout is None else join.eviction_timeout
    return node + eviction


def due(acked_at: float | None, fenced_at: float | None, now: float, after: float) -> bool:
    """Whether to fence now: a beat was acknowledged at some point (`acked_at`, the last one), none for `after`
    seconds, and the agent has not fenced since that acknowledgement (`fenced_at`). All on one monotonic clock."""
    if after <= 0 or acked_at is None:
        return False
    if fenced_at is not None and fenced_at >= acked_at:
        return False
    return now - acked_at >= after


def next_look(acked_at: float | None, now: float, after: float, *, idle: float = 1.0) -> float:
    """When to look again: at the deadline if it is ahead, else after `idle` seconds (an acknowledgement may
    move it)."""
    if after <= 0 or acked_at is None or acked_at + after <= now:
        return now + idle
    return min(acked_at + after, now + idle)
