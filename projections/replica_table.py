"""The `replicas` table: one row per (resource, replica id), folded by `projections.replicas.fold`.

Written in the projector's batch transaction, like the audit and usage tables, so it is exactly-once and
rebuilt from sequence 1 with the rest of the read model. Ended replicas stay (a crash's pid and error are
what an operator looks for), the newest KEEP_ENDED of each resource, so churn cannot grow it without bound.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from core.log import StoredMessage
from projections.replicas import ENDED, Body, Replica, Resource, fold, message_of, numbered, to_api

DDL = """
CREATE TABLE IF NOT EXISTS replicas (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, replica TEXT NOT NULL,
    live INTEGER NOT NULL,          -- 0 once stopped or lost
    seq INTEGER NOT NULL,           -- the last message that changed the row
    row TEXT NOT NULL,              -- projections.replicas.Replica (msgspec JSON)
    PRIMARY KEY (kind, namespace, name, replica)
) WITHOUT ROWID;
"""
KEEP_ENDED = 50
"""Ended replicas kept per resource (newest first): enough for "what crashed lately", bounded under churn."""
Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]
_body = msgspec.json.Decoder(Body)
_row = msgspec.json.Decoder(Replica)
_json = msgspec.json.Encoder()
Key = tuple[str, str, str, str]
"""(kind key, namespace, name, replica id)"""


def write(db: sqlite3.Connection, messages: Sequence[StoredMessage]) -> None:
    """Fold the batch's replica messages into the table (blocking: on the writer's thread, in its transaction)."""
    rows: dict[Key, tuple[Replica, int]] = {}
    ended: set[Resource] = set()
    for m in messages:
        found = message_of(m)
        if found is None:
            continue
        resource, type_, driver = found
        try:
            body = _body.decode(m.data)
        except msgspec.DecodeError:
            continue  # not ours to judge: the reducer reports undecodable messages
        key = (*resource, body.replica)
        before = rows[key][0] if key in rows else _load(db, key)
        after = fold(before, type_, body, m.time, driver)
        if after is None or after is before:
            continue
        rows[key] = (after, m.seq)
        if after.state in ENDED:
            ended.add(resource)
    if rows:
        db.executemany("INSERT OR REPLACE INTO replicas (kind, namespace, name, replica, live, seq, row)"
                       " VALUES (?,?,?,?,?,?,?)",
                       [(*key, int(row.state not in ENDED), seq, _json.encode(row).decode())
                        for key, (row, seq) in rows.items()])
    for resource in ended:
        db.execute("DELETE FROM replicas WHERE kind = ? AND namespace = ? AND name = ? AND live = 0 AND seq <"
                   " (SELECT seq FROM replicas WHERE kind = ? AND namespace = ? AND name = ? AND live = 0"
                   " ORDER BY seq DESC LIMIT 1 OFFSET ?)", (*resource, *resource, KEEP_ENDED - 1))


def _load(db: sqlite3.Connection, key: Key) -> Replica | None:
    found = db.execute("SELECT row FROM replicas WHERE kind = ? AND namespace = ? AND name = ? AND replica = ?",
                       key).fetchone()
    return None if found is None else _row.decode(found[0])


async def query(fetch: Fetch, kind: str, namespace: str, name: str, ended: int = 20) -> list[dict[str, Any]]:
    """The resource's live replicas (by replica id, chat-2 before chat-10), then its `ended` latest ended ones."""
    sql = "SELECT row FROM replicas WHERE kind = ? AND namespace = ? AND name = ? AND live = ?"
    live = [_row.decode(r[0]) for r in await fetch(sql, (kind, namespace, name, 1))]
    gone = [_row.decode(r[0]) for r in await fetch(sql + " ORDER BY seq DESC LIMIT ?",
                                                   (kind, namespace, name, 0, max(0, ended)))]
    return [to_api(r) for r in sorted(live, key=lambda r: numbered(r.replica)) + gone]
