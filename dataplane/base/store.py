"""The ledger tables every driver keeps beside its own, and how a driver's SQLite file is opened.

- `starts`: how many times the driver really started (spawned) each replica id: the proof of "never
  twice", and the incarnation in every observation's message id.
- `reported`: what the log has been told (or is promised, via the outbox) about each replica; rows in a
  final state (stopped, lost) are tombstones.
- `outbox`: observations committed together with the change that caused them, not yet appended.
- `deliveries`: every start command handed to the driver (its stream sequence, and how many times it came),
  recorded before the driver decides anything about it: the evidence that the control plane asked to
  start a replica twice even when the driver's own dedup ("exists") absorbed the second ask.
- `quarantine`: observations that would not decode (a non-finite number): set aside, never fatal.
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

LEDGER_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS deliveries (
    token TEXT NOT NULL,
    replica TEXT NOT NULL,
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (token, replica, seq)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    body BLOB NOT NULL,
    time REAL NOT NULL,
    headers TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    subject TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL
);
"""


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """Open (and create) a driver's database with its own `schema` and the ledger tables; autocommit mode
    so every transaction is an explicit `transaction()`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed change survives kill -9
    conn.execute("PRAGMA busy_timeout=10000")
    conn.executescript(schema + LEDGER_SCHEMA)
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
