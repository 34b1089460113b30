"""The transactional outbox: an observation is committed with the world change that caused it, then appended.

Order of effects (crash-safe at any instant): commit world + outbox row -> `Log.append` with a
deterministic `Nats-Msg-Id` -> delete the row -> ack the command. A crash before the append leaves the
row, which is re-sent on the next start; a crash after it re-sends a message JetStream deduplicates (and
the actors fold idempotently even past the dedup window). Nothing is reported that did not happen.
"""
from __future__ import annotations

import asyncio
import functools
import operator
import sqlite3
from typing import Any

import msgspec

from core.codec import encode
from core.log import Log
from core.replicas import OBSERVATIONS, Observation
from dataplane.base.store import transaction

_ANY_OBSERVATION: Any = functools.reduce(operator.or_, OBSERVATIONS)
_decoder: msgspec.json.Decoder[Observation] = msgspec.json.Decoder(_ANY_OBSERVATION)
_headers = msgspec.json.Decoder(dict[str, str])
BATCH = 512


class Row(msgspec.Struct, frozen=True):
    id: int
    subject: str
    msg_id: str
    event: Observation
    time: float
    headers: dict[str, str]


def add(conn: sqlite3.Connection, subject: str, event: Observation, msg_id: str, now: float,
        headers: dict[str, str] | None = None) -> None:
    """Queue an observation; call inside the transaction that changed the world."""
    conn.execute("INSERT INTO outbox (subject, msg_id, body, time, headers) VALUES (?, ?, ?, ?, ?)",
                 (subject, msg_id, encode(event), now, msgspec.json.encode(headers or {}).decode()))


def pending(conn: sqlite3.Connection, limit: int = BATCH) -> list[Row]:
    rows = conn.execute("SELECT * FROM outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
    return [Row(r["id"], r["subject"], r["msg_id"], _decoder.decode(r["body"]), r["time"],
                _headers.decode(r["headers"])) for r in rows]


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
