"""The process driver's durable records: what it runs, under `<data_dir>/process/state.db` (SQLite, WAL).

- `pools`: process pools and their device ids.
- `replicas`: one row per replica this driver is responsible for, with the pid + start time of its
  process (NULL while it waits to be (re)started), its devices and port. The row is the claim on the
  devices: they are free again only once the row is gone, i.e. once the process is gone.
- the ledger every driver keeps (`dataplane.base.store`): `starts` (how many processes were spawned per
  replica id; each spawn's marker carries the number), `reported` (what the log has been told about each
  replica; final states are tombstones) and `outbox`.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from dataplane.base import store as ledger
from dataplane.base.store import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    devices TEXT NOT NULL,
    generation INTEGER NOT NULL,
    incarnation INTEGER NOT NULL DEFAULT 1,
    retired INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS replicas (
    token TEXT NOT NULL,
    replica TEXT NOT NULL,
    pool TEXT NOT NULL,
    gpus INTEGER NOT NULL,
    model TEXT NOT NULL,
    devices TEXT NOT NULL,
    launch BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'starting', 'ready', 'stopping')),
    pid INTEGER,
    start_time INTEGER,
    port INTEGER NOT NULL DEFAULT 0,
    spawned INTEGER NOT NULL DEFAULT 0,      -- the spawn number whose marker the process carries
    attempts INTEGER NOT NULL DEFAULT 0,     -- failed starts in a row
    next_try REAL NOT NULL DEFAULT 0,
    up_since REAL NOT NULL DEFAULT 0,
    stop_deadline REAL NOT NULL DEFAULT 0,
    lost_reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (token, replica)
);
CREATE INDEX IF NOT EXISTS replicas_by_pool ON replicas (pool);
CREATE TABLE IF NOT EXISTS tenants (
    namespace TEXT PRIMARY KEY,
    uid INTEGER NOT NULL UNIQUE              -- the user its replicas run as (dataplane/process/fence.py)
);
"""


def home(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / "process"


def log_dir(data_dir: Path) -> Path:
    return home(data_dir) / "logs"


def log_file(data_dir: Path, token: str, replica: str) -> Path:
    _kind, namespace, name = token.split(".")
    return log_dir(data_dir) / namespace / name / f"{replica}.log"


def connect(data_dir: Path) -> sqlite3.Connection:
    return ledger.connect(home(data_dir) / "state.db", SCHEMA)


def opened(data_dir: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(connect(data_dir))


def summary(data_dir: Path) -> dict[str, dict[str, dict[str, object]]]:
    """What the driver runs, for tests and operators: token -> replica -> {state, pid, devices, port}."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    with opened(data_dir) as conn:
        for r in conn.execute("SELECT * FROM replicas ORDER BY token, replica"):
            out.setdefault(r["token"], {})[r["replica"]] = {
                "state": r["state"], "pid": r["pid"], "devices": r["devices"], "port": r["port"],
                "attempts": r["attempts"]}
    return out


__all__ = ["connect", "home", "log_dir", "log_file", "opened", "summary", "transaction"]
