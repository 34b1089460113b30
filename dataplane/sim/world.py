"""The simulated world on SQLite: how each command changes it, how replicas become ready, how drift is found.

The rules themselves (capacity refusal, start-up latency) are `dataplane.sim.rules`, shared with a plan's
in-memory fork; here they are applied in transactions. Every method is one SQLite transaction that
changes the world and queues the observations describing the change in the outbox, atomically.
Idempotence is keyed by replica id (and pool incarnation/generation): a repeated command changes nothing
and re-queues the current truth under the same message ids. A replica id that reached a final state
(stopped, lost) is a tombstone: it is never started again, so a late or redelivered StartReplica cannot
create a replica its deployment no longer knows about.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from core.names import Ref
from core.replicas import EnsurePool, ReplicaStarted, StartReplica, StopReplica
from dataplane.base.ledger import LIVE, NO_CAUSE, Cause, Ledger
from dataplane.sim import store
from dataplane.sim.rules import PoolState, start

DRIFT = "replica disappeared (drift detected by re-list)"
__all__ = ["DRIFT", "LIVE", "NO_CAUSE", "Cause", "World"]


class World(Ledger):
    """The sim's world; how it reports what happens is the drivers' shared `Ledger`."""

    def __init__(self, conn: sqlite3.Connection, *, latency: float = 0.05, seed: int = 0) -> None:
        self.conn = conn
        self.latency = latency
        self.seed = seed

    @classmethod
    def open(cls, data_dir: Path, *, latency: float = 0.05, seed: int = 0) -> World:
        return cls(store.connect(data_dir), latency=latency, seed=seed)

    def close(self) -> None:
        self.conn.close()

    # ---- pools --------------------------------------------------------------------------------------

    def ensure_pool(self, ref: Ref, cmd: EnsurePool, now: float, cause: Cause = NO_CAUSE) -> str:
        """Create, update or revive the pool; a stale generation changes nothing. Reports PoolReady."""
        fields = {"region": cmd.region, "gpu": cmd.gpu, "capacity": cmd.capacity}
        return self._ensure_pool(ref, cmd.generation, fields, now, cause)

    # ---- replicas -----------------------------------------------------------------------------------

    def start_replica(self, ref: Ref, cmd: StartReplica, now: float, cause: Cause = NO_CAUSE) -> str:
        """Start the replica unless it exists, is settled, or does not fit; returns what happened."""
        token, rid = ref.token, cmd.replica
        with store.transaction(self.conn) as c:
            known = self._already_known(ref, rid, DRIFT, now, cause)
            if known is not None:
                return known
            ready_at = start(cmd.pool, self._pool_state(cmd.pool), cmd.gpus, now, self.latency, self.seed, token,
                             rid)
            if isinstance(ready_at, str):
                self._lose(ref, rid, cmd.pool, ready_at, now, cause)
                return "refused"
            c.execute("INSERT INTO replicas VALUES (?,?,?,?,?, 'starting', ?)",
                      (token, rid, cmd.pool, cmd.gpus, cmd.model, ready_at))
            c.execute("INSERT INTO starts VALUES (?,?,1) ON CONFLICT DO UPDATE SET n = n + 1", (token, rid))
            c.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?, 'starting')",
                      (token, rid, cmd.pool))
            self._report(ref, ReplicaStarted(replica=rid, pool=cmd.pool), self._id(token, rid, "started"), now,
                         cause)
        return "started"

    def stop_replica(self, ref: Ref, cmd: StopReplica, now: float, cause: Cause = NO_CAUSE) -> str:
        """Remove the replica if present; always reports ReplicaStopped (stopping is idempotent)."""
        token, rid = ref.token, cmd.replica
        with store.transaction(self.conn) as c:
            gone = c.execute("DELETE FROM replicas WHERE token=? AND replica=?", (token, rid)).rowcount
            rep = c.execute("SELECT pool FROM reported WHERE token=? AND replica=?", (token, rid)).fetchone()
            self._settle_stopped(ref, rid, cmd.pool if rep is None else rep["pool"], now, cause)
        return "stopped" if gone else "absent"

    def next_ready_at(self) -> float | None:
        """When the earliest starting replica becomes ready (the readiness timer's deadline)."""
        row = self.conn.execute("SELECT MIN(ready_at) FROM replicas WHERE state = 'starting'").fetchone()
        return None if row[0] is None else float(row[0])

    def promote_ready(self, now: float, cause_of: Callable[[Ref, str], Cause] | None = None
                      ) -> list[tuple[Ref, str]]:
        """Starting replicas whose ready_at has passed become ready; returns them.

        `cause_of(ref, replica)` gives the headers of each readiness report (the start's trace context).
        """
        with store.transaction(self.conn) as c:
            rows = c.execute("SELECT token, replica, pool FROM replicas WHERE state='starting' AND ready_at <= ?",
                             (now,)).fetchall()
            c.execute("UPDATE replicas SET state='ready' WHERE state='starting' AND ready_at <= ?", (now,))
            promoted: list[tuple[Ref, str]] = []
            for r in rows:
                ref = Ref.parse(r["token"])
                self._reported_ready(ref, r["replica"], r["pool"], now,
                                     cause_of(ref, r["replica"]) if cause_of else NO_CAUSE)
                promoted.append((ref, r["replica"]))
        return promoted

    def relist(self, now: float) -> tuple[list[tuple[Ref, str]], list[tuple[Ref, str]]]:
        """Compare the world with what was reported: returns (lost, newly reported) replicas."""
        with store.transaction(self.conn) as c:
            lost = self._lose_vanished(DRIFT, now)
            unknown = c.execute(
                "SELECT r.token, r.replica, r.pool, r.state FROM replicas r LEFT JOIN reported p"
                " ON r.token = p.token AND r.replica = p.replica"
                " WHERE p.state IS NULL OR p.state NOT IN ('starting', 'ready')"
                " OR (r.state = 'ready' AND p.state = 'starting')").fetchall()
            found = []
            for u in unknown:
                ref = Ref.parse(u["token"])
                c.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?,?)"
                          " ON CONFLICT DO UPDATE SET state=excluded.state, reason=''",
                          (u["token"], u["replica"], u["pool"], u["state"]))
                self._rereport(ref, u["replica"], now, NO_CAUSE)
                found.append((ref, u["replica"]))
        return lost, found

    # ---- helpers (inside a transaction) -------------------------------------------------------------

    def _pool_state(self, key: str) -> PoolState | None:
        p = self.conn.execute("SELECT capacity, used, retired FROM pools WHERE key = ?", (key,)).fetchone()
        if p is None:
            return None
        return PoolState(key=key, capacity=p["capacity"], used=p["used"], retired=bool(p["retired"]))
