"""The SQLite layout of one read-model generation, and how writers and readers open it.

WAL mode: the single writer (the projector) never blocks readers (gateways), and readers always see
a committed batch, never half of one.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from projections import audit, replica_table, usage

VERSION = 1
BUSY_TIMEOUT_MS = 5000

DDL = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    phase TEXT NOT NULL,
    labels TEXT NOT NULL,           -- JSON object
    last_seq INTEGER NOT NULL,      -- seq of the last message that changed the row
    state BLOB NOT NULL,            -- reducer.Row (msgspec JSON): what the next fold starts from
    object TEXT NOT NULL,           -- the API object, served as is
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_phase ON resources (kind, phase);

CREATE TABLE IF NOT EXISTS labels (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_by_value ON labels (kind, key, value);

CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY,        -- one message belongs to exactly one resource timeline
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL,
    item TEXT NOT NULL              -- the history item JSON
);
-- covering for the type filter: only matching items are read from the table
CREATE INDEX IF NOT EXISTS timeline_resource ON timeline (kind, namespace, name, seq, type);

CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL,             -- ADDED | MODIFIED | DELETED
    phase TEXT NOT NULL,
    object TEXT NOT NULL            -- object after the change; for DELETED its last state
);

CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL            -- last stream seq applied: written in the same transaction as its effects
);
INSERT OR IGNORE INTO checkpoint (id, seq) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('changes_horizon', '0');
"""

DDL += audit.DDL + usage.DDL + replica_table.DDL
TABLES = ("resources", "labels", "timeline", "changes", "checkpoint", "meta", "audit",
          "replica_usage", "replicas")


def connect_writer(path: Path) -> sqlite3.Connection:
    """Create (if needed) and open a generation for writing; transactions are managed explicitly.

    A plain (blocking) connection: the writer runs each whole batch on its own thread in one call
    (`store.Writer`), so it never pays a thread hop per statement.
    """
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives a process crash (kill -9); the checkpoint commits with its effects.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.executescript(DDL)
        usage.migrate(db)
        db.execute(f"PRAGMA user_version={VERSION}")
    except BaseException:
        db.close()
        raise
    return db


async def open_reader(path: Path) -> aiosqlite.Connection:
    """Open an existing generation for reading. `mode=rw` never creates a file: a generation deleted
    under our feet raises instead of silently appearing empty."""
    db = await aiosqlite.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA query_only=1")
    except BaseException:
        await db.close()
        raise
    return db
