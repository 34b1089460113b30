"""The `replica_usage` table: every replica's GPUs, price and lifetime, from the log; the cost projection.

A replica of any kind is charged from its `ReplicaStarted` to its `ReplicaStopped`/`ReplicaLost` (stream
times of those observations), at the price its pool had when the replica was asked for (the pool's kind
says what it supplies, `core.usage.Supply`). Written in the same transaction as the rest of a batch, like
the audit table, so it is exactly-once and rebuilt from sequence 1 with the rest of the read model.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from actors.controller import Registry
from core import headers as H
from core.log import StoredMessage

DDL = """
CREATE TABLE IF NOT EXISTS replica_usage (
    namespace TEXT NOT NULL, name TEXT NOT NULL, replica TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT '',  -- kind key of the resource that runs it ('' in rows from before kinds)
    pool TEXT NOT NULL,
    gpus INTEGER NOT NULL,
    price REAL NOT NULL,            -- per GPU-hour, from the pool's spec when the replica was asked for
    started_at REAL,                -- stream time of its first ReplicaStarted
    stopped_at REAL,                -- stream time of its ReplicaStopped / ReplicaLost
    PRIMARY KEY (namespace, name, replica)
) WITHOUT ROWID;
"""
STARTS = ("replica.start", "replica.start-process")
ENDS = ("replica.stopped", "replica.lost")
Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


class _Start(msgspec.Struct):
    replica: str
    pool: str
    gpus: int


class _Replica(msgspec.Struct):
    replica: str


_start = msgspec.json.Decoder(_Start)
_replica = msgspec.json.Decoder(_Replica)


def migrate(db: sqlite3.Connection) -> None:
    """Add the `kind` column to a table created before it existed."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(replica_usage)")}
    if "kind" not in columns:
        db.execute("ALTER TABLE replica_usage ADD COLUMN kind TEXT NOT NULL DEFAULT ''")


def write(db: sqlite3.Connection, messages: Sequence[StoredMessage], registry: Registry) -> None:
    """Record the batch's replica starts and ends (blocking: on the writer's thread, in its transaction)."""
    for m in messages:
        kind = m.headers.get(H.TYPE, "")
        parts = m.subject.split(".")
        try:
            if kind in STARTS and parts[1] == "cmd":
                _asked(db, parts[3], parts[4], parts[5], _start.decode(m.data), registry)
            elif kind == "replica.started" and parts[1] == "ev":
                db.execute("UPDATE replica_usage SET started_at = ? WHERE namespace = ? AND name = ? AND replica = ?"
                           " AND started_at IS NULL", (m.time, parts[3], parts[4], _replica.decode(m.data).replica))
            elif kind in ENDS and parts[1] == "ev":
                db.execute("UPDATE replica_usage SET stopped_at = ? WHERE namespace = ? AND name = ? AND replica = ?"
                           " AND stopped_at IS NULL", (m.time, parts[3], parts[4], _replica.decode(m.data).replica))
        except (msgspec.DecodeError, IndexError):
            continue  # not ours to judge: the reducer reports undecodable messages


def _asked(db: sqlite3.Connection, kind: str, namespace: str, name: str, start: _Start, registry: Registry) -> None:
    db.execute("INSERT OR IGNORE INTO replica_usage (namespace, name, replica, kind, pool, gpus, price)"
               " VALUES (?,?,?,?,?,?,?)", (namespace, name, start.replica, kind, start.pool, start.gpus,
                                          _price(db, start.pool, registry)))


def _price(db: sqlite3.Connection, pool: str, registry: Registry) -> float:
    """The price per GPU-hour the pool `<namespace>/<name>` supplies now (0 when no supplier of that name)."""
    pool_ns, _, pool_name = pool.partition("/")
    for info in registry.suppliers():
        found = db.execute("SELECT json_extract(object, '$.spec') FROM resources WHERE kind = ? AND namespace = ?"
                           " AND name = ?", (info.key, pool_ns, pool_name)).fetchone()
        if found and found[0] is not None:
            try:
                supply = info.supply_of(msgspec.json.decode(found[0]))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if supply is not None:
                return supply.price_per_gpu_hour
    return 0.0


def lifetimes_sql(namespace: str | None, kinds: Sequence[str] | None,
                  columns: str = "gpus, price, started_at, stopped_at") -> tuple[str, list[Any]]:
    """The query of every started replica's `columns` in `namespace` (None: all), of workloads of `kinds`
    (None: all; rows recorded before kinds were, kind '', always count)."""
    sql = f"SELECT {columns} FROM replica_usage WHERE started_at IS NOT NULL"
    params: list[Any] = []
    if namespace:
        sql += " AND namespace = ?"
        params.append(namespace)
    if kinds is not None:
        sql += f" AND kind IN ({','.join('?' * (len(kinds) + 1))})"
        params.extend(["", *kinds])
    return sql, params


async def query(fetch: Fetch, namespace: str | None, now: float, kinds: Sequence[str] | None = None
                ) -> list[dict[str, Any]]:
    """Per namespace and workload: spend rate now, GPU-hours and cost so far (running replicas up to `now`).

    `kinds` limits it to workloads of those kind keys (rows recorded before kinds were, kind '', always count).
    """
    sql, params = lifetimes_sql(namespace, kinds, "namespace, name, kind, gpus, price, started_at, stopped_at")
    rows = await fetch(sql + " ORDER BY namespace, name", params)
    spaces: dict[str, dict[str, Any]] = {}
    for ns, name, kind, gpus, price, started, stopped in rows:
        space = spaces.setdefault(ns, {"namespace": ns, "costPerHour": 0.0, "gpuHours": 0.0, "cost": 0.0,
                                       "deployments": {}})
        dep = space["deployments"].setdefault((kind, name), {"name": name, "replicas": 0, "gpus": 0,
                                                             "costPerHour": 0.0, "gpuHours": 0.0, "cost": 0.0})
        if kind:
            dep["kind"] = kind
        hours = gpus * max(0.0, (stopped if stopped is not None else now) - started) / 3600
        running = stopped is None
        for target in (space, dep):
            target["gpuHours"] += hours
            target["cost"] += hours * price
            target["costPerHour"] += gpus * price if running else 0.0
        dep["replicas"] += int(running)
        dep["gpus"] += gpus if running else 0
    return [{**s, "deployments": list(s["deployments"].values())} for s in spaces.values()]


async def rates(fetch: Fetch) -> list[tuple[str, float]]:
    """(namespace, spend rate now) for `/metrics`."""
    sql = ("SELECT namespace, SUM(gpus * price) FROM replica_usage WHERE started_at IS NOT NULL AND stopped_at IS NULL"
           " GROUP BY namespace")
    return [(str(ns), float(rate or 0.0)) for ns, rate in await fetch(sql, ())]
