"""The simulated world on disk: schema, transactions, and the out-of-band tools that inspect or tamper with it.

The world outlives every process (SQLite in WAL mode under `<data_dir>/sim/world.db`), so a crash of the
control plane or of the driver never makes the data plane vanish. Its own tables, one job each:

- `pools`, `replicas`: what exists (the world itself). `kill_replica` edits these behind Bosun's back.

and the ledger every driver keeps (`dataplane.base.store`): `starts` (the proof of "never twice"),
`reported` (what the log was told; the driver compares it with the world to detect drift) and `outbox`.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from dataplane.base import store as ledger
from dataplane.base.store import transaction

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
"""


def db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "sim" / "world.db"


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open (and create) the world, with the ledger tables every driver keeps (`dataplane.base.store`)."""
    return ledger.connect(db_path(data_dir), SCHEMA)


def opened(data_dir: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(connect(data_dir))


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


__all__ = ["SCHEMA", "connect", "db_path", "kill_replica", "opened", "transaction", "world_summary"]
