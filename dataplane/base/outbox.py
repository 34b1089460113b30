"""The transactional outbox: an observation is committed with the world change that caused it, then appended.

Order of effects (crash-safe at any instant): commit world + outbox row -> `Log.append` with a
deterministic `Nats-Msg-Id` -> delete the row -> ack the command. A crash before the append leaves the
row, which is re-sent on the next start; a crash after it re-sends a message JetStream deduplicates (and
the actors fold idempotently even past the dedup window). Nothing is reported that did not happen.

A poison observation (one that would not decode: msgspec writes NaN and infinities as `null`) once made a
driver unable to read its own outbox, so it exited at every start. Now none is queued (`add` checks the
encoded body), and a row that does not decode anyway (written by an older version) is moved to the
`quarantine` table, logged and counted; everything else is still sent.
"""
from __future__ import annotations

import asyncio
import functools
import operator
import sqlite3
from typing import Any

import msgspec
import structlog

from core.codec import encode
from core.log import Log
from core.metrics import POISONED
from core.replicas import OBSERVATIONS, Observation
from dataplane.base.store import transaction

_ANY_OBSERVATION: Any = functools.reduce(operator.or_, OBSERVATIONS)
_decoder: msgspec.json.Decoder[Observation] = msgspec.json.Decoder(_ANY_OBSERVATION)
_headers = msgspec.json.Decoder(dict[str, str])
BATCH = 512
_log = structlog.get_logger("bosun.driver")


class Row(msgspec.Struct, frozen=True):
    id: int
    subject: str
    msg_id: str
    event: Observation
    time: float
    headers: dict[str, str]


def add(conn: sqlite3.Connection, subject: str, event: Observation, msg_id: str, now: float,
        headers: dict[str, str] | None = None) -> None:
    """Queue an observation; call inside the transaction that changed the world. One that would not decode
    is quarantined instead (the world change it describes still commits)."""
    body = encode(event)
    try:
        _decoder.decode(body)
    except msgspec.DecodeError as e:
        quarantine(conn, subject, body, str(e), now)
        return
    conn.execute("INSERT INTO outbox (subject, msg_id, body, time, headers) VALUES (?, ?, ?, ?, ?)",
                 (subject, msg_id, body, now, msgspec.json.encode(headers or {}).decode()))


def quarantine(conn: sqlite3.Connection, subject: str, body: bytes, error: str, now: float,
               what: str = "observation") -> None:
    """Set an undecodable item aside: kept for inspection, logged, counted (`bosun_quarantined_items_total`)."""
    conn.execute("INSERT INTO quarantine (time, subject, body, error) VALUES (?, ?, ?, ?)",
                 (now, subject, body, error))
    POISONED.labels("driver", what).inc()
    _log.error(f"undecodable {what} quarantined", subject=subject, error=error)


def pending(conn: sqlite3.Connection, limit: int = BATCH) -> list[Row]:
    """The next rows to send; rows that do not decode are moved to `quarantine` on the way."""
    rows = conn.execute("SELECT * FROM outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
    out, poisoned = [], []
    for r in rows:
        try:
            out.append(Row(r["id"], r["subject"], r["msg_id"], _decoder.decode(r["body"]), r["time"],
                           _headers.decode(r["headers"])))
        except msgspec.DecodeError as e:
            poisoned.append((r, str(e)))
    if poisoned:
        with transaction(conn):
            for r, error in poisoned:
                quarantine(conn, r["subject"], r["body"], error, r["time"])
                conn.execute("DELETE FROM outbox WHERE id = ?", (r["id"],))
        if not out:
            return pending(conn, limit)
    return out


def quarantined(conn: sqlite3.Connection) -> list[dict[str, object]]:
    """What was set aside, oldest first (operators, tests)."""
    return [{"time": r["time"], "subject": r["subject"], "error": r["error"]}
            for r in conn.execute("SELECT * FROM quarantine ORDER BY id")]


def sent(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])


class Outbox:
    """Appends queued observations to the log: in order per subject, concurrently across subjects."""

    def __init__(self, conn: sqlite3.Connection, log: Log) -> None:
        self._conn = conn
        self._log = log
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Append everything queued; returns how many rows were sent. Raises if the log is unreachable.

        When it returns, every row queued before the call is in the log.
        """
        async with self._lock:
            total = 0
            while rows := pending(self._conn):
                by_subject: dict[str, list[Row]] = {}
                for row in rows:
                    by_subject.setdefault(row.subject, []).append(row)
                done = await asyncio.gather(*(self._send(group) for group in by_subject.values()))
                ids = [i for group in done for i in group]
                with transaction(self._conn):
                    sent(self._conn, ids)
                total += len(ids)
            return total

    async def _send(self, rows: list[Row]) -> list[int]:
        for row in rows:
            await self._log.append(row.subject, row.event, now=row.time, msg_id=row.msg_id, extra=row.headers)
        return [row.id for row in rows]
