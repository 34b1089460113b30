"""The simulated data plane's rules, pure: what each command does to the sim's world and what it reports.

One set of rules, two worlds. The sim driver keeps its world in SQLite (`dataplane.sim.world`: each rule
applied in one transaction, observations queued in its outbox); a plan's fork keeps it in memory
(`Plane` below, observations at virtual times). Both refuse what does not fit a pool (`refusal`: the
pool actor already never grants more than capacity, the simulator still refuses on its own so a bug
upstream shows as a visible `ReplicaLost`, not a silently over-committed pool), start replicas with the
same seeded latency (`ready_delay`, through `start`), never start a replica id twice (a stopped or lost
one is a tombstone), and report a stop as stopped unless the replica was lost first.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec

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

JITTER_LOW = 0.5
JITTER_HIGH = 1.5
LIVE = ("starting", "ready")


class PoolState(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # "<namespace>/<name>"
    capacity: int
    used: int
    retired: bool = False

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.used)


def pool_key(ref: Ref) -> str:
    """How replicas and commands name a pool: `<namespace>/<name>`."""
    return f"{ref.namespace}/{ref.name}"


def refusal(pool_key: str, pool: PoolState | None, gpus: int) -> str | None:
    """Why a replica of `gpus` GPU cannot start in the pool, or None when it fits."""
    if pool is None:
        return f"unknown pool {pool_key}"
    if pool.retired:
        return f"pool {pool_key} is retired"
    if gpus < 0 or pool.used + gpus > pool.capacity:
        return f"insufficient capacity in pool {pool_key} (needs {gpus} GPU, {pool.free} of {pool.capacity} free)"
    return None


def unit(seed: int, *key: str) -> float:
    """A deterministic pseudo-random number in [0, 1) for `key` under `seed`."""
    digest = hashlib.blake2b("/".join((str(seed), *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def ready_delay(latency: float, seed: int, token: str, replica: str) -> float:
    """Seconds from start to ready: `latency` scaled by a seeded factor in [0.5, 1.5).

    Determinism matters more than realism here: a run with the same seed must see the same readiness
    order, so the jitter is a hash of (seed, resource, replica), never a shared RNG whose draws would
    depend on the order commands happen to arrive in."""
    if latency <= 0:
        return 0.0
    return latency * (JITTER_LOW + (JITTER_HIGH - JITTER_LOW) * unit(seed, token, replica))


def start(pool_key: str, pool: PoolState | None, gpus: int, now: float, latency: float, seed: int, token: str,
          replica: str) -> float | str:
    """A new replica id's start: when it becomes ready, or why it is refused (then it is lost)."""
    why = refusal(pool_key, pool, gpus)
    return why if why is not None else now + ready_delay(latency, seed, token, replica)


# ---- the same world in memory (a plan's fork) ---------------------------------------------------------


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
class Plane:
    """Pools and replicas as the simulated data plane holds them (not as actors believe them to be); every
    command is answered by observations at a virtual time."""

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
                if r is not None and r.state in LIVE:
                    self._use(r.pool, -r.gpus)
                if r is None or r.state != "lost":  # a loss is final: it stays lost
                    self.replicas[(ref.token, rid)] = _Replica(r.pool if r else pool, 0, "stopped")
                return [Observed(now, ref, ReplicaStopped(replica=rid, pool=r.pool if r else pool))]
            case EnsurePool(capacity=capacity, generation=g):
                self.add_pool(pool_key(ref), capacity)
                return [Observed(now, ref, PoolReady(capacity=capacity, generation=g))]
            case RetirePool():
                key = pool_key(ref)
                if key in self.pools:
                    self.add_pool(key, self.pools[key].capacity, retired=True)
                return [Observed(now, ref, PoolRetired())]
            case _:
                return []

    def _start(self, ref: Ref, cmd: StartReplica, now: float) -> list[Observed]:
        if (ref.token, cmd.replica) in self.replicas:  # exists or settled: re-reported (deduplicated), nothing new
            return []
        ready_at = start(cmd.pool, self.pools.get(cmd.pool), cmd.gpus, now, self.latency, self.seed, ref.token,
                         cmd.replica)
        if isinstance(ready_at, str):
            self.replicas[(ref.token, cmd.replica)] = _Replica(cmd.pool, 0, "lost")
            return [Observed(now, ref, ReplicaLost(replica=cmd.replica, pool=cmd.pool, reason=ready_at))]
        self.replicas[(ref.token, cmd.replica)] = _Replica(cmd.pool, cmd.gpus, "starting")
        self._use(cmd.pool, cmd.gpus)
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
