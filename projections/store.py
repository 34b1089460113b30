"""The writer of one read-model generation: each batch is ONE transaction that also moves the checkpoint.

That transaction is the exactly-once proof (eventsourcing's "tracking" rule): after a crash at any
instant the database holds either the whole batch and its checkpoint or neither, and messages at or
below the checkpoint are skipped when they come again.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from core.log import StoredMessage
from projections import audit, batches, reducer, schema
from projections.batches import Key, Plan
from projections.reducer import Row

RETAIN_CHANGES = 100_000
"""Watch feed length; a watcher further behind than this must list again (ChangesExpired)."""

_json = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(Row)


class Writer:
    def __init__(self, db: aiosqlite.Connection, path: Path, checkpoint: int) -> None:
        self._db = db
        self.path = path
        self._checkpoint = checkpoint

    @classmethod
    async def open(cls, path: Path) -> Writer:
        db = await schema.open_writer(path)
        try:
            async with db.execute("SELECT seq FROM checkpoint WHERE id = 1") as cur:
                found = await cur.fetchone()
        except BaseException:
            await db.close()
            raise
        return cls(db, path, int(found[0]) if found else 0)

    @property
    def checkpoint(self) -> int:
        """Last stream sequence whose effects are committed."""
        return self._checkpoint

    async def apply(self, messages: Sequence[StoredMessage], through: int | None = None) -> int:
        """Apply the messages newer than the checkpoint in one transaction; returns the new checkpoint.

        `through` moves the checkpoint further even without messages (gaps left by deleted messages).
        """
        fresh = sorted((m for m in messages if m.seq > self._checkpoint), key=lambda m: m.seq)
        target = max([self._checkpoint, through or 0, *(m.seq for m in fresh[-1:])])
        if target == self._checkpoint:
            return target
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            current = await self._load(batches.keys_of(fresh))
            await self._write(batches.plan(fresh, current), current)
            await audit.write(self._db, fresh)
            await self._db.execute("UPDATE checkpoint SET seq = ? WHERE id = 1", (target,))
            await self._db.execute("COMMIT")
        except BaseException:
            await self._recover()
            raise
        self._checkpoint = target
        return target

    async def _recover(self) -> None:
        """After a failed or cancelled batch: roll back whatever is open and trust only the stored checkpoint.

        aiosqlite runs statements in order on its own thread, so these run after the interrupted one.
        """
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # no transaction open: it never began, or it committed just before the interruption
        async with self._db.execute("SELECT seq FROM checkpoint WHERE id = 1") as cur:
            found = await cur.fetchone()
        self._checkpoint = int(found[0]) if found else 0

    async def _load(self, keys: set[Key]) -> dict[Key, Row]:
        rows: dict[Key, Row] = {}
        pending = list(keys)
        while pending:  # chunks keep well under SQLite's bound-parameter limit
            chunk, pending = pending[:300], pending[300:]
            values = ",".join("(?,?,?)" for _ in chunk)
            sql = f"SELECT state FROM resources WHERE (kind, namespace, name) IN (VALUES {values})"
            async with self._db.execute(sql, [p for key in chunk for p in key]) as cur:
                async for (state,) in cur:
                    row = _row_decoder.decode(state)
                    rows[row.key] = row
        return rows

    async def _write(self, plan: Plan, current: dict[Key, Row]) -> None:
        db = self._db
        await db.executemany(
            "INSERT OR IGNORE INTO timeline (seq, kind, namespace, name, type, item) VALUES (?,?,?,?,?,?)",
            [(e.seq, e.kind, e.namespace, e.name, e.type, _json.encode(e.item).decode()) for e in plan.timeline])
        gone = [key for key, row in plan.rows.items() if row is None]
        live = [row for row in plan.rows.values() if row is not None]
        await db.executemany("DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?", gone)
        await db.executemany("INSERT OR REPLACE INTO resources (kind, namespace, name, phase, labels, last_seq, "
                             "state, object) VALUES (?,?,?,?,?,?,?,?)", [_resource(row) for row in live])
        relabeled = [key for key, row in plan.rows.items()
                     if row is None or key not in current or current[key].labels != row.labels]
        await db.executemany("DELETE FROM labels WHERE kind = ? AND namespace = ? AND name = ?", relabeled)
        await db.executemany("INSERT INTO labels (kind, namespace, name, key, value) VALUES (?,?,?,?,?)",
                             [(*key, k, v) for key in relabeled if (row := plan.rows[key]) is not None
                              for k, v in row.labels.items()])
        await db.executemany(
            "INSERT OR IGNORE INTO changes (seq, kind, namespace, name, type, phase, object) VALUES (?,?,?,?,?,?,?)",
            [(c.seq, *c.key, c.type, c.row.phase, _json.encode(reducer.to_api(c.row)).decode())
             for c in plan.changes])
        if plan.changes:
            await self._prune_changes()

    async def _prune_changes(self) -> None:
        """Keep the newest RETAIN_CHANGES entries; remember the horizon so old cursors are refused."""
        sql = "SELECT seq FROM changes ORDER BY seq DESC LIMIT 1 OFFSET ?"
        async with self._db.execute(sql, (RETAIN_CHANGES,)) as cur:
            found = await cur.fetchone()
        if found is None:
            return
        await self._db.execute("DELETE FROM changes WHERE seq <= ?", (found[0],))
        await self._db.execute("UPDATE meta SET value = ? WHERE key = 'changes_horizon'", (str(found[0]),))

    async def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in ("resources", "timeline"):
            async with self._db.execute(f"SELECT count(*) FROM {table}") as cur:
                found = await cur.fetchone()
            out[table] = int(found[0]) if found else 0
        return out

    async def close(self) -> None:
        await self._db.close()


def _resource(row: Row) -> tuple[Any, ...]:
    obj = reducer.to_api(row)
    return (row.kind, row.namespace, row.name, row.phase, _json.encode(row.labels).decode(), row.last_seq,
            _json.encode(row), _json.encode(obj).decode())
