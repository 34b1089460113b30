"""The simulated world on disk: schema, transactions, and the out-of-band tools that inspect or tamper with it.

The world outlives every process (SQLite in WAL mode under `<data_dir>/sim/world.db`), so a crash of the
control plane or of the driver never makes the data plane vanish. Four tables, one job each:

- `pools`, `replicas`: what exists (the world itself). `kill_replica` edits these behind Bosun's back.
- `starts`: how many times the driver really started each replica id (the proof of "never twice").
- `reported`: what the log has been told (or is promised, via the outbox) about each replica: the
  driver compares it with the world to detect drift. Rows in a final state are tombstones.
- `outbox`: observations committed together with the world change that caused them, not yet appended.
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    region TEXT NOT NULL,
    gpu TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    incarnation INTEGER NOT NULL DEFAULT 1,
    retired INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0  -- sum of its replicas' GPUs, kept by the triggers below
);
CREATE TABLE IF NOT EXISTS replicas (
    token TEXT NOT NULL,
    replica TEXT NOT NULL,
    pool TEXT NOT NULL,
    gpus INTEGER NOT NULL,
    model TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('starting', 'ready')),
    ready_at REAL NOT NULL,
    PRIMARY KEY (token, replica)
);
CREATE INDEX IF NOT EXISTS replicas_by_pool ON replicas (pool);
CREATE INDEX IF NOT EXISTS replicas_by_readiness ON replicas (state, ready_at);
-- Triggers, not application code, keep pools.used exact: whoever edits replicas (the driver, kill_replica,
-- an operator with the sqlite3 shell) cannot make the capacity check lie, and the check stays O(1).
CREATE TRIGGER IF NOT EXISTS replica_added AFTER INSERT ON replicas BEGIN
    UPDATE pools SET used = used + NEW.gpus WHERE key = NEW.pool;
END;
CREATE TRIGGER IF NOT EXISTS replica_removed AFTER DELETE ON replicas BEGIN
    UPDATE pools SET used = used - OLD.gpus WHERE key = OLD.pool;
END;
CREATE TRIGGER IF NOT EXISTS replica_moved AFTER UPDATE OF pool, gpus ON replicas BEGIN
    UPDATE pools SET used = used - OLD.gpus WHERE key = OLD.pool;
    UPDATE pools SET used = used + NEW.gpus WHERE key = NEW.pool;
END;
CREATE TABLE IF NOT EXISTS starts (
    token TEXT NOT NULL,
    replica TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (token, replica)
);
CREATE TABLE IF NOT EXISTS reported (
    token TEXT NOT NULL,
    replica TEXT NOT NULL,
    pool TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('starting', 'ready', 'stopped', 'lost')),
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (token, replica)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    body BLOB NOT NULL,
    time REAL NOT NULL,
    headers TEXT NOT NULL
);
"""


def db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "sim" / "world.db"


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open (and create) the world; autocommit mode so every transaction is an explicit `transaction()`."""
    path = db_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed change survives kill -9
    conn.execute("PRAGMA busy_timeout=10000")
    conn.executescript(SCHEMA)
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: read-then-write without another writer slipping in between."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def opened(data_dir: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(data_dir)
    try:
        yield conn
    finally:
        conn.close()


def kill_replica(data_dir: Path, namespace: str, name: str, replica: str | None = None,
                 kind: str = "modeldeployment") -> list[str]:
    """Kill a replica behind Bosun's back (straight in the world DB, not through NATS).

    Kills `replica`, or the lowest-numbered live replica of the resource when None; returns the ids killed
    (empty when there was nothing to kill). Only the driver's re-list will notice.
    """
    token = f"{kind}.{namespace}.{name}"
    with opened(data_dir) as conn, transaction(conn):
        if replica is None:
            rows = conn.execute("SELECT replica FROM replicas WHERE token = ?", (token,)).fetchall()
            ids = sorted((r["replica"] for r in rows), key=_numbered)[:1]
        else:
            ids = [replica] if conn.execute("SELECT 1 FROM replicas WHERE token = ? AND replica = ?",
                                            (token, replica)).fetchone() else []
        conn.executemany("DELETE FROM replicas WHERE token = ? AND replica = ?", [(token, r) for r in ids])
    return ids


def _numbered(replica: str) -> tuple[int, str]:
    tail = replica.rsplit("-", 1)[-1]
    return (int(tail) if tail.isdigit() else 0, replica)


def world_summary(data_dir: Path) -> dict[str, Any]:
    """What exists, for tests and operators.

    `pools`: key -> {region, gpu, capacity, used, generation, retired}; `replicas`: token -> {id: state};
    `starts`: "token/id" -> times really started; `overallocated` lists pools whose used GPUs exceed
    capacity and `double_started` replica ids started more than once: both must always be empty.
    """
    with opened(data_dir) as conn:
        pools: dict[str, dict[str, Any]] = {}
        for p in conn.execute("SELECT p.*, (SELECT COALESCE(SUM(gpus), 0) FROM replicas r WHERE r.pool = p.key)"
                              " AS counted FROM pools p ORDER BY key"):  # recount: checks the triggers too
            pools[p["key"]] = {"region": p["region"], "gpu": p["gpu"], "capacity": p["capacity"],
                               "used": p["counted"], "generation": p["generation"], "retired": bool(p["retired"])}
        replicas: dict[str, dict[str, str]] = {}
        for r in conn.execute("SELECT token, replica, state FROM replicas ORDER BY token, replica"):
            replicas.setdefault(r["token"], {})[r["replica"]] = r["state"]
        starts = {f"{s['token']}/{s['replica']}": s["n"] for s in conn.execute("SELECT * FROM starts")}
        unsent = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    return {
        "pools": pools,
        "replicas": replicas,
        "starts": starts,
        "overallocated": sorted(k for k, p in pools.items() if p["used"] > p["capacity"]),
        "double_started": sorted(k for k, n in starts.items() if n > 1),
        "unsent": unsent,
    }
