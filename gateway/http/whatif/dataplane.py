"""The sim driver's rules, in memory: what a plan's fork hears back for each command it sends.

The same rules as `dataplane/sim/world.py` (idempotent per replica id, a replica id that stopped or was
lost is never started again, the data plane refuses what does not fit its pool) and the same seeded
start-up latency (`dataplane.sim.latency.ready_delay`), with a virtual clock instead of SQLite and
wall time. Every command is answered by observations at a virtual time: the fork delivers them then.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from core.events import Event
from core.names import Ref
from core.replicas import (
    EnsurePool,
    PoolReady,
    PoolRetired,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStopped,
    RetirePool,
    StartReplica,
    StopReplica,
)
from dataplane.sim.capacity import PoolState, refusal
from dataplane.sim.latency import ready_delay


class Observed(NamedTuple):
    at: float
    ref: Ref
    event: Event


@dataclass
class _Replica:
    pool: str
    gpus: int
    state: str  # starting | ready | stopped | lost


@dataclass
class SimPlane:
    """Pools and replicas as the simulated data plane holds them (not as actors believe them to be)."""

    latency: float = 0.05
    seed: int = 0
    pools: dict[str, PoolState] = field(default_factory=dict)
    replicas: dict[tuple[str, str], _Replica] = field(default_factory=dict)

    def add_pool(self, key: str, capacity: int, retired: bool = False) -> None:
        self.pools[key] = PoolState(key=key, capacity=capacity, used=self.pools.get(key, _empty(key)).used,
                                    retired=retired)

    def add_replica(self, ref: Ref, replica: str, pool: str, gpus: int, ready: bool) -> None:
        """A replica the live data plane already runs (taken from the actors' view of the log)."""
        self.replicas[(ref.token, replica)] = _Replica(pool, gpus, "ready" if ready else "starting")
        self._use(pool, gpus)

    def actuate(self, ref: Ref, command: Event, now: float) -> list[Observed]:
        match command:
            case StartReplica():
                return self._start(ref, command, now)
            case StopReplica(replica=rid, pool=pool):
                r = self.replicas.get((ref.token, rid))
                if r is not None and r.state in ("starting", "ready"):
                    self._use(r.pool, -r.gpus)
                if r is None or r.state != "lost":
                    self.replicas[(ref.token, rid)] = _Replica(r.pool if r else pool, 0, "stopped")
                return [Observed(now, ref, ReplicaStopped(replica=rid, pool=r.pool if r else pool))]
            case EnsurePool(capacity=capacity, generation=g):
                self.add_pool(f"{ref.namespace}/{ref.name}", capacity)
                return [Observed(now, ref, PoolReady(capacity=capacity, generation=g))]
            case RetirePool():
                key = f"{ref.namespace}/{ref.name}"
                if key in self.pools:
                    self.add_pool(key, self.pools[key].capacity, retired=True)
                return [Observed(now, ref, PoolRetired())]
            case _:
                return []

    def _start(self, ref: Ref, cmd: StartReplica, now: float) -> list[Observed]:
        known = self.replicas.get((ref.token, cmd.replica))
        if known is not None:  # exists or settled: the live driver re-reports (deduplicated), nothing new
            return []
        why = refusal(cmd.pool, self.pools.get(cmd.pool), cmd.gpus)
        if why is not None:
            self.replicas[(ref.token, cmd.replica)] = _Replica(cmd.pool, 0, "lost")
            return [Observed(now, ref, ReplicaLost(replica=cmd.replica, pool=cmd.pool, reason=why))]
        self.replicas[(ref.token, cmd.replica)] = _Replica(cmd.pool, cmd.gpus, "starting")
        self._use(cmd.pool, cmd.gpus)
        ready_at = now + ready_delay(self.latency, self.seed, ref.token, cmd.replica)
        return [Observed(now, ref, ReplicaStarted(replica=cmd.replica, pool=cmd.pool)),
                Observed(ready_at, ref, ReplicaReady(replica=cmd.replica, pool=cmd.pool))]

    def promote(self, ref: Ref, replica: str) -> bool:
        """Mark a replica ready when its readiness is delivered; False when it stopped meanwhile."""
        r = self.replicas.get((ref.token, replica))
        if r is None or r.state != "starting":
            return False
        r.state = "ready"
        return True

    def _use(self, key: str, gpus: int) -> None:
        p = self.pools.get(key, _empty(key))
        self.pools[key] = PoolState(key=key, capacity=p.capacity, used=max(0, p.used + gpus), retired=p.retired)


def _empty(key: str) -> PoolState:
    return PoolState(key=key, capacity=0, used=0)
