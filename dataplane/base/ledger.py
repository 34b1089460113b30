"""How a driver tells the log about its replicas: idempotent observations, queued in its outbox.

Both drivers follow the same rules here (they differ in what exists and how it is changed, not in how it
is reported): every observation's message id is `obs/<token>/<replica>/<what>/<n>` with n the times the
replica was really started, so re-reporting the truth is deduplicated by JetStream; `reported` holds what
the log was told, and a replica in a final state (stopped, lost) is a tombstone. Every method runs inside
the caller's transaction, so the report is committed with the change it describes.
"""
from __future__ import annotations

import sqlite3

import msgspec

from core import headers as H
from core import replicas as R
from core import subjects
from core.names import Ref
from dataplane.base import outbox
from dataplane.base.store import transaction

LIVE = ("starting", "ready")


def delivered_starts(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """("<token>/<replica>", command sequence, times delivered) for every start command a driver was handed."""
    return [(f"{r[0]}/{r[1]}", int(r[2]), int(r[3]))
            for r in conn.execute("SELECT token, replica, seq, n FROM deliveries ORDER BY token, replica, seq")]


class Cause(msgspec.Struct, frozen=True):
    """Headers linking observations to the command that caused them (history shows why)."""

    headers: dict[str, str] = {}


NO_CAUSE = Cause()


class Ledger:
    """The reporting half of a driver's world (see the module doc); `conn` is the driver's database."""

    conn: sqlite3.Connection

    def retire_pool(self, ref: Ref, now: float, cause: Cause = NO_CAUSE) -> str:
        """Mark the pool retired (it is revived by a newer EnsurePool); always reports PoolRetired."""
        key = f"{ref.namespace}/{ref.name}"
        with transaction(self.conn) as c:
            p = c.execute("SELECT * FROM pools WHERE key = ?", (key,)).fetchone()
            incarnation = 0 if p is None else p["incarnation"]
            if p is not None and not p["retired"]:
                c.execute("UPDATE pools SET retired = 1 WHERE key = ?", (key,))
            self._report(ref, R.PoolRetired(), f"obs/{ref.token}/pool-retired/{incarnation}", now, cause)
        return "unknown" if p is None else "retired"

    def _ensure_pool(self, ref: Ref, generation: int, fields: dict[str, object], now: float, cause: Cause) -> str:
        """Create the pool's row, or update (and revive) it unless `generation` is stale; reports PoolReady of
        whatever the row then holds. `fields` are the driver's own pool columns (names are code, not input)."""
        key = f"{ref.namespace}/{ref.name}"
        columns, values = list(fields), list(fields.values())
        with transaction(self.conn) as c:
            p = c.execute("SELECT * FROM pools WHERE key = ?", (key,)).fetchone()
            if p is None:
                marks = ", ".join("?" for _ in columns)
                c.execute(f"INSERT INTO pools (key, token, {', '.join(columns)}, generation) VALUES (?, ?, {marks}, ?)",
                          (key, ref.token, *values, generation))
                outcome = "created"
            elif p["retired"] or generation >= p["generation"]:
                c.execute(f"UPDATE pools SET {', '.join(f'{k}=?' for k in columns)}, generation=?, retired=0,"
                          " incarnation=incarnation+? WHERE key=?", (*values, generation, int(p["retired"]), key))
                outcome = "revived" if p["retired"] else "updated"
            else:
                outcome = "stale"
            p = c.execute("SELECT * FROM pools WHERE key = ?", (key,)).fetchone()
            self._report(ref, R.PoolReady(capacity=p["capacity"], generation=p["generation"]),
                         f"obs/{ref.token}/pool-ready/{p['incarnation']}.{p['generation']}", now, cause)
        return outcome

    def _reported_ready(self, ref: Ref, rid: str, pool: str, now: float, cause: Cause) -> None:
        self.conn.execute("UPDATE reported SET state='ready' WHERE token=? AND replica=? AND state='starting'",
                          (ref.token, rid))
        self._report(ref, R.ReplicaReady(replica=rid, pool=pool), self._id(ref.token, rid, "ready"), now, cause)

    def _settle_stopped(self, ref: Ref, rid: str, pool: str, now: float, cause: Cause) -> None:
        """Stopped, unless it was lost first (a loss is final); reports ReplicaStopped either way."""
        rep = self.conn.execute("SELECT state FROM reported WHERE token=? AND replica=?", (ref.token, rid)).fetchone()
        if rep is None or rep["state"] != "lost":
            self.conn.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?, 'stopped')"
                              " ON CONFLICT DO UPDATE SET state='stopped'", (ref.token, rid, pool))
        self._report(ref, R.ReplicaStopped(replica=rid, pool=pool), self._id(ref.token, rid, "stopped"), now, cause)

    def _lose(self, ref: Ref, rid: str, pool: str, reason: str, now: float, cause: Cause) -> None:
        self.conn.execute("INSERT INTO reported (token, replica, pool, state, reason) VALUES (?,?,?, 'lost', ?)"
                          " ON CONFLICT DO UPDATE SET state='lost', reason=excluded.reason",
                          (ref.token, rid, pool, reason))
        self._report(ref, R.ReplicaLost(replica=rid, pool=pool, reason=reason), self._id(ref.token, rid, "lost"), now,
                     cause)

    def _already_known(self, ref: Ref, rid: str, drift: str, now: float, cause: Cause) -> str | None:
        """The outcome of a start for a replica id the driver has seen before (None: a new one).

        Held now: "exists" (its truth re-reported). Reported live but no longer held: "lost" (drift,
        reported with `drift` as the reason). Settled (stopped or lost): "settled", a tombstone never
        started again, so a late or redelivered start cannot create a replica its deployment forgot.
        Every start is first counted as delivered (`deliveries`), whatever the answer."""
        token = ref.token
        self._delivered(token, rid, cause)
        if self.conn.execute("SELECT 1 FROM replicas WHERE token=? AND replica=?", (token, rid)).fetchone():
            self._rereport(ref, rid, now, cause)
            return "exists"
        rep = self.conn.execute("SELECT * FROM reported WHERE token=? AND replica=?", (token, rid)).fetchone()
        if rep is None:
            return None
        if rep["state"] in LIVE:
            self._lose(ref, rid, rep["pool"], drift, now, cause)
            return "lost"
        self._rereport(ref, rid, now, cause)
        return "settled"

    def _delivered(self, token: str, rid: str, cause: Cause) -> None:
        """Count one delivery of the start command at the stream sequence `cause` names (0: unknown)."""
        seq = cause.headers.get(H.CAUSES, "0")
        self.conn.execute("INSERT INTO deliveries VALUES (?,?,?,1) ON CONFLICT DO UPDATE SET n = n + 1",
                          (token, rid, int(seq) if seq.isdigit() else 0))

    def _lose_vanished(self, reason: str, now: float) -> list[tuple[Ref, str]]:
        """Replicas the log believes live that the driver's own tables no longer hold: lost (drift)."""
        vanished = self.conn.execute(
            "SELECT p.token, p.replica, p.pool FROM reported p LEFT JOIN replicas r"
            " ON r.token = p.token AND r.replica = p.replica"
            " WHERE p.state IN ('starting', 'ready') AND r.replica IS NULL").fetchall()
        lost = []
        for v in vanished:
            ref = Ref.parse(v["token"])
            self._lose(ref, v["replica"], v["pool"], reason, now, NO_CAUSE)
            lost.append((ref, v["replica"]))
        return lost

    def _started_known(self, token: str, rid: str) -> bool:
        """Whether a live replica's start has been reported (a driver may hold a replica before it starts)."""
        return True

    def _rereport(self, ref: Ref, rid: str, now: float, cause: Cause) -> None:
        """Queue again what the log was told about `rid` (same message ids: deduplicated)."""
        rep = self.conn.execute("SELECT * FROM reported WHERE token=? AND replica=?", (ref.token, rid)).fetchone()
        if rep is None:
            return
        pool, state = rep["pool"], rep["state"]
        if state in LIVE and self._started_known(ref.token, rid):
            self._report(ref, R.ReplicaStarted(replica=rid, pool=pool), self._id(ref.token, rid, "started"), now, cause)
        if state == "ready":
            self._report(ref, R.ReplicaReady(replica=rid, pool=pool), self._id(ref.token, rid, "ready"), now, cause)
        elif state == "stopped":
            self._report(ref, R.ReplicaStopped(replica=rid, pool=pool), self._id(ref.token, rid, "stopped"), now, cause)
        elif state == "lost":
            self._report(ref, R.ReplicaLost(replica=rid, pool=pool, reason=rep["reason"]),
                         self._id(ref.token, rid, "lost"), now, cause)

    def _id(self, token: str, rid: str, what: str) -> str:
        """`obs/<token>/<replica>/<what>/<n>`, n = times the replica was really started (its incarnation)."""
        row = self.conn.execute("SELECT n FROM starts WHERE token=? AND replica=?", (token, rid)).fetchone()
        return f"obs/{token}/{rid}/{what}/{0 if row is None else row['n']}"

    def _report(self, ref: Ref, event: R.Observation, msg_id: str, now: float, cause: Cause) -> None:
        outbox.add(self.conn, subjects.obs(ref), event, msg_id, now, cause.headers)
