"""The process driver's rules: how each command and each process event changes its records.

Every method is one SQLite transaction that changes the records and queues the observations describing
the change in the outbox, atomically; the OS work (spawn, signal) happens in the shell around them.
Idempotence is keyed by replica id, as in the sim: a repeated command changes nothing and re-queues the
current truth under the same message ids, and a replica id in a final state is never started again.
"""
from __future__ import annotations

import sqlite3
import time

import msgspec

from core.names import Ref
from core.replicas import (
    EnsureDevices,
    EnsurePool,
    Launch,
    ReplicaStarted,
    ReplicaStartFailed,
    StartProcess,
    StartReplica,
    StopReplica,
)
from dataplane.base import outbox
from dataplane.base.ledger import NO_CAUSE, Cause, Ledger
from dataplane.process import store
from dataplane.process.procs import Identity

DRIFT = "replica process disappeared (drift detected by re-list)"
RETRY_BASE = 1.0
RETRY_CAP = 30.0
_launch = msgspec.json.Decoder(Launch)


class Record(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    replica: str
    pool: str
    gpus: int
    model: str
    devices: str
    launch: Launch
    state: str
    identity: Identity | None
    port: int
    spawned: int
    attempts: int
    next_try: float
    up_since: float
    stop_deadline: float
    lost_reason: str

    @property
    def ref(self) -> Ref:
        return Ref.parse(self.token)


def retry_delay(attempts: int) -> float:
    """Capped exponential backoff for failed starts: 1 s, 2 s, 4 s … 30 s."""
    return float(min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1)))


class World(Ledger):
    """The process driver's records; how it reports what happens is the drivers' shared `Ledger`."""

    node = ""
    """The node its replicas run on, when an agent runs them (`dataplane.agent.runner`); said in ReplicaStarted."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # ---- pools --------------------------------------------------------------------------------------

    def ensure_pool(self, ref: Ref, cmd: EnsurePool, now: float, cause: Cause = NO_CAUSE) -> str:
        devices = ",".join(cmd.devices) if isinstance(cmd, EnsureDevices) else ""
        outcome = self._ensure_pool(ref, cmd.generation, {"capacity": cmd.capacity, "devices": devices}, now, cause)
        return "updated" if outcome == "revived" else outcome  # a process pool reports a revival as an update

    # ---- commands for replicas -----------------------------------------------------------------------

    def admit(self, ref: Ref, cmd: StartReplica, now: float, cause: Cause = NO_CAUSE) -> str:
        """Take responsibility for a replica (devices allotted, to be spawned at once), unless it is known."""
        token, rid = ref.token, cmd.replica
        with store.transaction(self.conn) as c:
            known = self._already_known(ref, rid, DRIFT, now, cause)
            if known is not None:
                return known
            devices, why = self._allot(cmd)
            if why is None and not isinstance(cmd, StartProcess):
                why = "the process driver needs spec.command (what each replica runs)"
            if why is not None:
                self._lose(ref, rid, cmd.pool, why, now, cause)
                return "refused"
            assert isinstance(cmd, StartProcess)
            c.execute("INSERT INTO replicas (token, replica, pool, gpus, model, devices, launch, state, next_try)"
                      " VALUES (?,?,?,?,?,?,?, 'pending', ?)",
                      (token, rid, cmd.pool, cmd.gpus, cmd.model, devices, msgspec.json.encode(cmd.launch), now))
            c.execute("INSERT INTO reported (token, replica, pool, state) VALUES (?,?,?, 'starting')",
                      (token, rid, cmd.pool))
        return "admitted"

    def stop(self, ref: Ref, cmd: StopReplica, now: float, cause: Cause = NO_CAUSE) -> tuple[str, Identity | None]:
        """Begin stopping: returns the process to SIGTERM (None when nothing runs; then it is stopped at once)."""
        token, rid = ref.token, cmd.replica
        with store.transaction(self.conn) as c:
            row = c.execute("SELECT * FROM replicas WHERE token=? AND replica=?", (token, rid)).fetchone()
            if row is None:
                rep = c.execute("SELECT * FROM reported WHERE token=? AND replica=?", (token, rid)).fetchone()
                self._settle_stopped(ref, rid, cmd.pool if rep is None else rep["pool"], now, cause)
                return "absent", None
            rec = _record(row)
            if rec.identity is None:
                self._finish(rec, now, cause)
                return "stopped", None
            if rec.state != "stopping":
                c.execute("UPDATE replicas SET state='stopping', stop_deadline=? WHERE token=? AND replica=?",
                          (now + rec.launch.termination_grace_seconds, token, rid))
            return "stopping", rec.identity

    # ---- process events (from the shell's monitor) ---------------------------------------------------

    def records(self) -> list[Record]:
        out = []
        for row in self.conn.execute("SELECT * FROM replicas ORDER BY token, replica").fetchall():
            try:
                out.append(_record(row))
            except msgspec.DecodeError as e:
                self._set_aside(row, str(e))
        return out

    def record(self, token: str, rid: str) -> Record | None:
        row = self.conn.execute("SELECT * FROM replicas WHERE token=? AND replica=?", (token, rid)).fetchone()
        try:
            return None if row is None else _record(row)
        except msgspec.DecodeError as e:
            self._set_aside(row, str(e))
            return None

    def _set_aside(self, row: sqlite3.Row, error: str) -> None:
        """A record that does not decode (written by an older version): dropped and reported lost (its process,
        if any, is then a stranger the re-list stops), its row kept in `quarantine`; never a crash loop."""
        now = time.time()
        ref = Ref.parse(row["token"])
        with store.transaction(self.conn):
            outbox.quarantine(self.conn, f"record/{row['token']}/{row['replica']}", bytes(row["launch"]), error, now,
                               "record")
            self.conn.execute("DELETE FROM replicas WHERE token=? AND replica=?", (row["token"], row["replica"]))
            self._lose(ref, row["replica"], row["pool"], "the driver's record of this replica does not decode",
                       now, NO_CAUSE)

    def begin_spawn(self, rec: Record, port: int) -> Record:
        """Number this spawn (its marker) and its port before the process exists: a crash right after
        spawning still finds and adopts it instead of starting another."""
        with store.transaction(self.conn) as c:
            c.execute("INSERT INTO starts VALUES (?,?,1) ON CONFLICT DO UPDATE SET n = n + 1", (rec.token, rec.replica))
            n = int(c.execute("SELECT n FROM starts WHERE token=? AND replica=?",
                              (rec.token, rec.replica)).fetchone()[0])
            c.execute("UPDATE replicas SET spawned=?, port=? WHERE token=? AND replica=?",
                      (n, port, rec.token, rec.replica))
        return msgspec.structs.replace(rec, spawned=n, port=port)

    def spawned(self, rec: Record, who: Identity, port: int, now: float, cause: Cause = NO_CAUSE) -> None:
        with store.transaction(self.conn) as c:
            c.execute("UPDATE replicas SET state='starting', pid=?, start_time=?, port=?, up_since=?"
                      " WHERE token=? AND replica=?", (who.pid, who.start_time, port, now, rec.token, rec.replica))
            started = ReplicaStarted(replica=rec.replica, pool=rec.pool, node=self.node, pid=who.pid, port=port,
                                     devices=tuple(d for d in rec.devices.split(",") if d))
            self._report(rec.ref, started, self._id(rec.token, rec.replica, "started"), now, cause)

    def start_failed(self, rec: Record, reason: str, now: float, cause: Cause = NO_CAUSE) -> float:
        """The start failed (could not exec, or exited before ready): wait, then retry; returns the wait."""
        attempts = rec.attempts + 1
        delay = retry_delay(attempts)
        with store.transaction(self.conn) as c:
            c.execute("UPDATE replicas SET state='pending', pid=NULL, start_time=NULL, port=0, attempts=?,"
                      " next_try=? WHERE token=? AND replica=?", (attempts, now + delay, rec.token, rec.replica))
            self._report(rec.ref, ReplicaStartFailed(replica=rec.replica, pool=rec.pool, reason=reason[:500],
                                                     attempt=attempts, retry_in=delay),
                         self._id(rec.token, rec.replica, "start-failed"), now, cause)
        return delay

    def ready(self, rec: Record, now: float, cause: Cause = NO_CAUSE) -> None:
        with store.transaction(self.conn) as c:
            c.execute("UPDATE replicas SET state='ready', attempts=0 WHERE token=? AND replica=? AND state='starting'",
                      (rec.token, rec.replica))
            self._reported_ready(rec.ref, rec.replica, rec.pool, now, cause)

    def condemn(self, rec: Record, reason: str, now: float) -> None:
        """Stop a replica that failed its readiness: once gone it is reported lost, and replaced."""
        with store.transaction(self.conn) as c:
            c.execute("UPDATE replicas SET state='stopping', lost_reason=?, stop_deadline=?"
                      " WHERE token=? AND replica=?",
                      (reason, now + rec.launch.termination_grace_seconds, rec.token, rec.replica))

    def exited(self, rec: Record, reason: str, now: float) -> str:
        """The process is gone: a start failure, a loss (replaced upstream) or the end of a stop."""
        if rec.state == "starting":
            self.start_failed(rec, reason, now)
            return "start-failed"
        with store.transaction(self.conn):
            if rec.state == "stopping":
                self._finish(rec, now, NO_CAUSE)
                return "stopped"
            self._drop(rec)
            self._lose(rec.ref, rec.replica, rec.pool, reason, now, NO_CAUSE)
        return "lost"

    def adopt(self, rec: Record, who: Identity, now: float) -> None:
        """A process spawned just before a crash, found by its marker: record it instead of starting another."""
        self.spawned(rec, who, rec.port, now)

    def relist(self, now: float) -> list[tuple[Ref, str]]:
        """Replicas the log believes live that this driver has no record of: lost (drift)."""
        with store.transaction(self.conn):
            return self._lose_vanished(DRIFT, now)

    # ---- helpers (inside a transaction) -------------------------------------------------------------

    def _allot(self, cmd: StartReplica) -> tuple[str, str | None]:
        """Devices for a new replica: never one held by another record of the pool; or why it cannot fit."""
        p = self.conn.execute("SELECT * FROM pools WHERE key = ?", (cmd.pool,)).fetchone()
        if p is None:
            return "", f"unknown pool {cmd.pool}"
        if p["retired"]:
            return "", f"pool {cmd.pool} is retired"
        rows = self.conn.execute("SELECT gpus, devices FROM replicas WHERE pool = ?", (cmd.pool,)).fetchall()
        used = sum(r["gpus"] for r in rows)
        if used + cmd.gpus > p["capacity"]:
            return "", f"insufficient capacity in pool {cmd.pool} (needs {cmd.gpus} GPU, {p['capacity'] - used} free)"
        if not p["devices"]:
            return "", None
        held = {d for r in rows for d in r["devices"].split(",") if d}
        free = [d for d in p["devices"].split(",") if d not in held]
        if len(free) < cmd.gpus:
            return "", f"insufficient devices in pool {cmd.pool} (needs {cmd.gpus}, {len(free)} free)"
        return ",".join(free[:cmd.gpus]), None

    def _finish(self, rec: Record, now: float, cause: Cause) -> None:
        self._drop(rec)
        if rec.lost_reason:
            self._lose(rec.ref, rec.replica, rec.pool, rec.lost_reason, now, cause)
        else:
            self._settle_stopped(rec.ref, rec.replica, rec.pool, now, cause)

    def _drop(self, rec: Record) -> None:
        self.conn.execute("DELETE FROM replicas WHERE token=? AND replica=?", (rec.token, rec.replica))

    def _started_known(self, token: str, rid: str) -> bool:
        """A record still pending (waiting to be spawned) has no reported start yet."""
        row = self.conn.execute("SELECT state FROM replicas WHERE token=? AND replica=?", (token, rid)).fetchone()
        return row is not None and row["state"] != "pending"


_launches: dict[bytes, Launch] = {}
"""Decoded launches by their stored bytes: a deployment's replicas share one, and the monitor reads every
record several times a second."""


def _launch_of(raw: bytes) -> Launch:
    launch = _launches.get(raw)
    if launch is None:
        if len(_launches) > 4096:
            _launches.clear()
        launch = _launches[raw] = _launch.decode(raw)
    return launch


def _record(row: sqlite3.Row) -> Record:
    who = Identity(row["pid"], row["start_time"]) if row["pid"] is not None else None
    return Record(token=row["token"], replica=row["replica"], pool=row["pool"], gpus=row["gpus"], model=row["model"],
                  devices=row["devices"], launch=_launch_of(row["launch"]), state=row["state"], identity=who,
                  port=row["port"], spawned=row["spawned"], attempts=row["attempts"], next_try=row["next_try"],
                  up_since=row["up_since"], stop_deadline=row["stop_deadline"], lost_reason=row["lost_reason"])
