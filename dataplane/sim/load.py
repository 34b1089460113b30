"""Synthetic load for autoscaling: an operator (or a test) sets a deployment's requests per second in the
world; the driver reports each change as a `LoadObserved` observation, as a real driver would measure it.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from core import subjects
from core.names import Ref
from core.replicas import LoadObserved
from dataplane.base import outbox
from dataplane.sim.store import opened, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS loads (
    token TEXT PRIMARY KEY,
    rps REAL NOT NULL,
    version INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0   -- the version last queued in the outbox
);
"""


def set_load(data_dir: Path, namespace: str, name: str, rps: float, kind: str = "modeldeployment") -> None:
    """Set the load the sim will report for a deployment (straight in the world DB, like kill-replica)."""
    if not 0 <= rps <= 1e12:  # NaN fails both comparisons
        raise ValueError(f"a load is a finite number of requests per second, not {rps!r}")
    with opened(data_dir) as conn:
        conn.executescript(SCHEMA)
        with transaction(conn):
            conn.execute("INSERT INTO loads (token, rps, version) VALUES (?, ?, 1)"
                         " ON CONFLICT DO UPDATE SET rps = excluded.rps, version = version + 1",
                         (f"{kind}.{namespace}.{name}", rps))


def queue_changes(conn: sqlite3.Connection, now: float) -> int:
    """Queue a LoadObserved for every load set since it was last reported; returns how many."""
    conn.executescript(SCHEMA)
    with transaction(conn) as c:
        rows = c.execute("SELECT * FROM loads WHERE reported < version").fetchall()
        for r in rows:
            ready = c.execute("SELECT COUNT(*) FROM replicas WHERE token = ? AND state = 'ready'",
                              (r["token"],)).fetchone()[0]
            ref = Ref.parse(r["token"])
            outbox.add(c, subjects.obs(ref), LoadObserved(rps=r["rps"], replicas=ready),
                       f"obs/{r['token']}/load/{r['version']}", now)
            c.execute("UPDATE loads SET reported = version WHERE token = ?", (r["token"],))
    return len(rows)
