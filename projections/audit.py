"""The `audit` table: admission decisions (`bosun.audit.<ns>`, `core.audit.AuditRecord`) as queryable rows,
newest first.

Written in the same transaction as the rest of a batch (and its checkpoint), so it is exactly-once like
every other read model; rebuilt from the log like them too.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from core.log import StoredMessage
from projections import pages

PREFIX = "bosun.audit."
DDL = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    principal TEXT NOT NULL, verb TEXT NOT NULL, kind TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, decision TEXT NOT NULL,
    item TEXT NOT NULL              -- the API record JSON
);
CREATE INDEX IF NOT EXISTS audit_principal ON audit (principal, seq);
CREATE INDEX IF NOT EXISTS audit_namespace ON audit (namespace, seq);
CREATE INDEX IF NOT EXISTS audit_decision ON audit (decision, seq);
"""
FILTERS = ("principal", "namespace", "kind", "name", "decision")
_decode = msgspec.json.Decoder(dict[str, Any])
Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


def rows(messages: Sequence[StoredMessage]) -> list[tuple[Any, ...]]:
    """Pure: the audit rows of a batch (other messages ignored; broken records skipped)."""
    out: list[tuple[Any, ...]] = []
    for m in messages:
        if not m.subject.startswith(PREFIX):
            continue
        try:
            rec = _decode.decode(m.data)
        except msgspec.DecodeError:
            continue
        item = {"seq": m.seq, **rec}
        out.append((m.seq, float(rec.get("time", m.time)), str(rec.get("principal", "")), str(rec.get("verb", "")),
                    str(rec.get("kind", "")), str(rec.get("namespace", "")), str(rec.get("name", "")),
                    str(rec.get("decision", "")), msgspec.json.encode(item).decode()))
    return out


def write(db: sqlite3.Connection, messages: Sequence[StoredMessage]) -> None:
    """Insert the batch's audit rows (blocking: called on the writer's thread, inside its transaction)."""
    found = rows(messages)
    if found:
        db.executemany("INSERT OR IGNORE INTO audit (seq, time, principal, verb, kind, namespace, name, "
                             "decision, item) VALUES (?,?,?,?,?,?,?,?,?)", found)


async def query(fetch: Fetch, filters: dict[str, str | None], since: float | None = None, limit: int = 100,
                continue_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of records, newest first; `since` is epoch seconds. Raises pages.BadContinue."""
    wanted = {k: v for k, v in filters.items() if k in FILTERS and v}
    fingerprint = pages.fingerprint("audit", *(f"{k}={v}" for k, v in sorted(wanted.items())), since)
    where = [f"{k} = ?" for k in wanted]
    params: list[Any] = list(wanted.values())
    if since is not None:
        where.append("time >= ?")
        params.append(since)
    if continue_token:
        cursor = pages.decode_history(continue_token, fingerprint, True)
        where.append("seq < ?")
        params.append(cursor.seq)
    limit = max(1, limit)
    sql = (f"SELECT seq, item FROM audit {'WHERE ' + ' AND '.join(where) if where else ''} "
           "ORDER BY seq DESC LIMIT ?")
    found = await fetch(sql, (*params, limit + 1))
    page = found[:limit]
    token = pages.encode(pages.HistoryCursor(fingerprint, page[-1][0], True)) if len(found) > limit else None
    return [_decode.decode(item) for _, item in page], token
