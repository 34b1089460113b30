"""The simulated world's rules: how each command changes it, how replicas become ready, how drift is found.

Every method is one SQLite transaction that changes the world and queues the observations describing the
change in the outbox, atomically. Idempotence is keyed by replica id (and pool incarnation/generation):
a repeated command changes nothing and re-queues the current truth under the same message ids.
A replica id that reached a final state (stopped, lost) is a tombstone: it is never started again, so a
late or redelivered StartReplica cannot create a replica its deployment no longer knows about.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgspec

from core import subjects
from core.names import Ref
from core.replicas import (
    EnsurePool,
    Observation,
    PoolReady,
    PoolRetired,
    ReplicaLost,
    ReplicaReady,
    ReplicaStarted,
    ReplicaStopped,
    StartReplica,
    StopReplica,
)
from dataplane.sim import outbox, store
from dataplane.sim.capacity import PoolState, refusal
from dataplane.sim.latency import ready_delay

DRIFT = "replica disappeared (drift detected by re-list)"
LIVE = ("starting", "ready")


class Cause(msgspec.Struct, frozen=True):
    """Headers linking observations to the command that caused them (history shows why)."""

    headers: dict[str, str] = {}


NO_CAUSE = Cause()


class World:
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
        key = _pool_key(ref)
        with store.transaction(self.conn) as c:
            p = c.execute("SELECT * FROM pools WHERE key = ?", (key,)).fetchone()
            if p is None:
                c.execute("INSERT INTO pools (key, token, region, gpu, capacity, generation) VALUES (?,?,?,?,?,?)",
                          (key, ref.token, cmd.region, cmd.gpu, cmd.capacity, cmd.generation))
                outcome = "created"
            elif p["retired"] or cmd.generation >= p["generation"]:
                c.execute("UPDATE pools SET region=?, gpu=?, capacity=?, generation=?, retired=0,"
                          " incarnation=incarnation+? WHERE key=?",
                          (cmd.region, cmd.gpu, cmd.capacity, cmd.generation, int(p["retired"]), key))
                outcome = "revived" if p["retired"] else "updated"
            else:
                outcome = "stale"
            p = c.execute("SELECT * FROM pools WHERE key = ?", (key,)).fetchone()
            self._report(ref, PoolReady(capacity=p["capacity"], generation=p["generation"]),
                         f"obs/{ref.token}/pool-ready/{p['incarnation']}.{p['generation']}", now, cause)
        return outcome

    def retire_pool(self, ref: Ref, now: float, cause: Cause = NO_CAUSE) -> str:
        key = _pool_key(ref)
        with store.transaction(self.conn) as c:
            p = c.execute("SELECT * FROM pools WHERE key = ?", (key,)).fetchone()
            incarnation = 0 if p is None else p["incarnation"]
            if p is not None and not p["retired"]:
                c.execute("UPDATE pools SET retired = 1 WHERE key = ?", (key,))
            self._report(ref, PoolRetired(), f"obs/{ref.token}/pool-retired/{incarnation}", now, cause)
        return "unknown" if p is None else "retired"

    # ---- replicas -----------------------------------------------------------------------------------

    def start_replica(self, ref: Ref, cmd: StartReplica, now: float, cause: Cause = NO_CAUSE) -> str:
        """Start the replica unless it exists, is settled, or does not fit; returns what happened."""
        token, rid = ref.token, cmd.replica
        with store.transaction(self.conn) as c:
            if c.execute("SELECT 1 FROM replicas WHERE token=? AND replica=?", (token, rid)).fetchone():
                self._rereport(ref, rid, now, cause)
                return "exists"
            rep = c.execute("SELECT * FROM reported WHERE token=? AND replica=?", (token, rid)).fetchone()
            if rep is not None and rep["state"] in LIVE:  # reported live, gone from the world: drift
                self._lose(ref, rid, rep["pool"], DRIFT, now, cause)
                return "lost"
            if rep is not None:
                self._rereport(ref, rid, now, cause)
                return "settled"
            why = refusal(cmd.pool, self._pool_state(cmd.pool), cmd.gpus)
            if why is not None:
                self._lose(ref, rid, cmd.pool, why, now, cause)
                return "refused"
            ready_at = now + ready_delay(self.latency, self.seed, token, rid)
            c.execute("INSERT INTO replicas VALUES (?,?,?,?,?, 'starting', ?)",
                      (token, rid, cmd.pool, cmd.gpus, cmd.model, ready_at))
            c.execute("INSERT INTO starts VALUES (?,?,1) ON CONFLICT DO UPDATE SET n = n + 1", (token, rid))
            c.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?, 'starting')",
                      (token, rid, cmd.pool))
            self._report(ref, ReplicaStarted(replica=rid, pool=cmd.pool), self._id(ref, rid, "started"), now,
                         cause)
        return "started"

    def stop_replica(self, ref: Ref, cmd: StopReplica, now: float, cause: Cause = NO_CAUSE) -> str:
        """Remove the replica if present; always reports ReplicaStopped (stopping is idempotent)."""
        token, rid = ref.token, cmd.replica
        with store.transaction(self.conn) as c:
            gone = c.execute("DELETE FROM replicas WHERE token=? AND replica=?", (token, rid)).rowcount
            rep = c.execute("SELECT * FROM reported WHERE token=? AND replica=?", (token, rid)).fetchone()
            pool = cmd.pool if rep is None else rep["pool"]
            if rep is None or rep["state"] != "lost":
                c.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?, 'stopped')"
                          " ON CONFLICT DO UPDATE SET state='stopped'", (token, rid, pool))
            self._report(ref, ReplicaStopped(replica=rid, pool=pool), self._id(ref, rid, "stopped"), now, cause)
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
                c.execute("UPDATE reported SET state='ready' WHERE token=? AND replica=? AND state='starting'",
                          (r["token"], r["replica"]))
                self._report(ref, ReplicaReady(replica=r["replica"], pool=r["pool"]),
                             self._id(ref, r["replica"], "ready"), now,
                             cause_of(ref, r["replica"]) if cause_of else NO_CAUSE)
                promoted.append((ref, r["replica"]))
        return promoted

    def relist(self, now: float) -> tuple[list[tuple[Ref, str]], list[tuple[Ref, str]]]:
        """Compare the world with what was reported: returns (lost, newly reported) replicas."""
        with store.transaction(self.conn) as c:
            vanished = c.execute(
                "SELECT p.token, p.replica, p.pool FROM reported p LEFT JOIN replicas r"
                " ON r.token = p.token AND r.replica = p.replica"
                " WHERE p.state IN ('starting', 'ready') AND r.replica IS NULL").fetchall()
            lost = []
            for v in vanished:
                ref = Ref.parse(v["token"])
                self._lose(ref, v["replica"], v["pool"], DRIFT, now, NO_CAUSE)
                lost.append((ref, v["replica"]))
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

    def _lose(self, ref: Ref, rid: str, pool: str, reason: str, now: float, cause: Cause) -> None:
        self.conn.execute("INSERT INTO reported (token, replica, pool, state, reason) VALUES (?,?,?, 'lost', ?)"
                          " ON CONFLICT DO UPDATE SET state='lost', reason=excluded.reason",
                          (ref.token, rid, pool, reason))
        self._report(ref, ReplicaLost(replica=rid, pool=pool, reason=reason), self._id(ref, rid, "lost"), now,
                     cause)

    def _rereport(self, ref: Ref, rid: str, now: float, cause: Cause) -> None:
        """Queue again what the log was told about `rid` (same message ids: deduplicated)."""
        rep = self.conn.execute("SELECT * FROM reported WHERE token=? AND replica=?", (ref.token, rid)).fetchone()
        if rep is None:
            return
        pool, state = rep["pool"], rep["state"]
        if state in LIVE:
            self._report(ref, ReplicaStarted(replica=rid, pool=pool), self._id(ref, rid, "started"), now, cause)
        if state == "ready":
            self._report(ref, ReplicaReady(replica=rid, pool=pool), self._id(ref, rid, "ready"), now, cause)
        elif state == "stopped":
            self._report(ref, ReplicaStopped(replica=rid, pool=pool), self._id(ref, rid, "stopped"), now, cause)
        elif state == "lost":
            self._report(ref, ReplicaLost(replica=rid, pool=pool, reason=rep["reason"]), self._id(ref, rid, "lost"),
                         now, cause)

    def _id(self, ref: Ref, rid: str, what: str) -> str:
        """`obs/<token>/<replica>/<what>/<n>`, n = times the replica was really started (its incarnation)."""
        row = self.conn.execute("SELECT n FROM starts WHERE token=? AND replica=?", (ref.token, rid)).fetchone()
        return f"obs/{ref.token}/{rid}/{what}/{0 if row is None else row['n']}"

    def _report(self, ref: Ref, event: Observation, msg_id: str, now: float, cause: Cause) -> None:
        outbox.add(self.conn, subjects.obs(ref), event, msg_id, now, cause.headers)


def _pool_key(ref: Ref) -> str:
    return f"{ref.namespace}/{ref.name}"
