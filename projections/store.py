"""The writer of one read-model generation: each batch is ONE transaction that also moves the checkpoint.

That transaction is the exactly-once proof (eventsourcing's "tracking" rule): after a crash at any
instant the database holds either the whole batch and its checkpoint or neither, and messages at or
below the checkpoint are skipped when they come again.

The writer owns one thread and one plain sqlite3 connection used only on it. A batch is one call on
that thread (begin, load the rows it touches, plan, write, move the checkpoint, commit), so the event
loop pays one thread hop per batch instead of one per statement. Calls run one at a time in submission
order, so whatever is submitted after an interrupted batch (the recovery) runs after it finished.
"""
from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from actors.controller import DEFAULT, Registry
from core.log import StoredMessage
from projections import audit, batches, reducer, replica_table, schema, usage
from projections.batches import Key, Plan
from projections.reducer import Row

RETAIN_CHANGES = 100_000
"""Watch feed length; a watcher further behind than this must list again (ChangesExpired)."""

_json = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(Row)
_T = TypeVar("_T")

ROWS_KEPT = 10_000
"""Rows the writer remembers between batches (a few KiB each), so a batch reads from the table only the
resources it has not touched lately. Rows are immutable values; a failed batch forgets them all."""
_LOAD_CHUNK = 300
"""Keys per SELECT: keeps well under SQLite's bound-parameter limit."""
_TIMELINE = "INSERT OR IGNORE INTO timeline (seq, kind, namespace, name, type, item) VALUES (?,?,?,?,?,?)"
_DELETE = "DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?"
_RESOURCE = ("INSERT OR REPLACE INTO resources (kind, namespace, name, phase, labels, last_seq, state, object) "
             "VALUES (?,?,?,?,?,?,?,?)")
_UNLABEL = "DELETE FROM labels WHERE kind = ? AND namespace = ? AND name = ?"
_LABEL = "INSERT INTO labels (kind, namespace, name, key, value) VALUES (?,?,?,?,?)"
_CHANGE = "INSERT OR IGNORE INTO changes (seq, kind, namespace, name, type, phase, object) VALUES (?,?,?,?,?,?,?)"
_CHECKPOINT = "UPDATE checkpoint SET seq = ? WHERE id = 1"


class Writer:
    def __init__(self, db: sqlite3.Connection, worker: ThreadPoolExecutor, path: Path, checkpoint: int,
                 registry: Registry = DEFAULT) -> None:
        self._db = db
        self.registry = registry
        """The kinds of the log (decoding, finalizers, API names, usage)."""
        self._worker = worker
        self.path = path
        self._checkpoint = checkpoint
        # the writer thread's memory of committed state (dropped whenever a batch fails):
        self._changes: int | None = None
        """Entries in the change feed (None: not counted yet)."""
        self._rows: dict[Key, Row | None] = {}
        """Recently loaded or written rows (None: no such resource), oldest first, at most ROWS_KEPT."""

    @classmethod
    async def open(cls, path: Path, registry: Registry = DEFAULT) -> Writer:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projections-writer")
        opening = worker.submit(_open, path)
        try:
            db, checkpoint = await asyncio.wrap_future(opening)
        except BaseException:  # failed, or cancelled while opening: a connection made anyway is closed
            opening.add_done_callback(_close_opened)
            worker.shutdown(wait=False)
            raise
        return cls(db, worker, path, checkpoint, registry)

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
            await self._run(self._apply, fresh, target)
        except BaseException:
            await self._recover()
            raise
        self._checkpoint = target
        return target

    async def _recover(self) -> None:
        """After a failed or cancelled batch: trust only the stored checkpoint.

        Runs on the writer's thread after the interrupted batch finished (committed or rolled back).
        """
        self._checkpoint = await self._run(self._rollback_and_read)

    async def counts(self) -> dict[str, int]:
        return await self._run(self._counts)

    async def snapshot(self, path: Path, prune_through: int = 0) -> int:
        """Copy this generation to `path` as of its checkpoint (returned), after dropping the timeline at or
        below `prune_through`: that part of the history is archived and read from there
        (`projections.archived`), so neither this database nor its snapshots grow with all of history."""
        return await self._run(self._snapshot, path, prune_through)

    async def close(self) -> None:
        try:
            await self._run(self._db.close)
        finally:
            self._worker.shutdown(wait=False)

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    # ---- on the writer's thread -----------------------------------------------------------------------

    def _apply(self, fresh: list[StoredMessage], target: int) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self._load(batches.keys_of(fresh))
            plan = batches.plan(fresh, current, self.registry)
            changes = self._write(plan, current)
            audit.write(db, fresh)
            usage.write(db, fresh, self.registry)
            replica_table.write(db, fresh)
            db.execute(_CHECKPOINT, (target,))
            db.execute("COMMIT")
        except BaseException:  # nothing remembered is trusted across a failure: recount, reread
            self._changes = None
            self._rows.clear()
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._changes = changes
        self._remember(plan.rows)

    def _rollback_and_read(self) -> int:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        return _stored_checkpoint(self._db)

    def _load(self, keys: set[Key]) -> dict[Key, Row]:
        """The current rows of `keys` (absent ones are left out): remembered ones, the rest from the table."""
        rows: dict[Key, Row] = {}
        missing: list[Key] = []
        remembered = self._rows
        for key in keys:
            if key in remembered:
                row = remembered[key]
                if row is not None:
                    rows[key] = row
            else:
                missing.append(key)
        if not missing:
            return rows
        found: dict[Key, Row | None] = dict.fromkeys(missing)
        for start in range(0, len(missing), _LOAD_CHUNK):
            chunk = missing[start:start + _LOAD_CHUNK]
            values = ",".join("(?,?,?)" for _ in chunk)
            # joined, not `(kind, namespace, name) IN (VALUES ...)`: SQLite scans the table for that form
            sql = (f"WITH k(kind, namespace, name) AS (VALUES {values}) SELECT r.state FROM k CROSS JOIN "
                   "resources AS r ON r.kind = k.kind AND r.namespace = k.namespace AND r.name = k.name")
            for (state,) in self._db.execute(sql, [p for key in chunk for p in key]):
                row = _row_decoder.decode(state)
                rows[row.key] = found[row.key] = row
        self._remember(found)
        return rows

    def _remember(self, rows: dict[Key, Row | None]) -> None:
        remembered = self._rows
        for key, row in rows.items():
            remembered.pop(key, None)  # re-inserted: now the newest
            remembered[key] = row
        excess = len(remembered) - ROWS_KEPT
        if excess > 0:
            for key in list(itertools.islice(remembered, excess)):
                del remembered[key]

    def _write(self, plan: Plan, current: dict[Key, Row]) -> int:
        """Write the plan's rows; returns how many entries the change feed holds afterwards."""
        db = self._db
        if plan.timeline:
            db.executemany(_TIMELINE, plan.timeline)
        objects: dict[int, str] = {}  # id(row) -> API object JSON, made once: final rows are last changes too
        changes = [(c.seq, *c.key, c.type, c.row.phase, _object(c.row, objects, self.registry)) for c in plan.changes]
        gone = [key for key, row in plan.rows.items() if row is None]
        if gone:
            db.executemany(_DELETE, gone)
        live = [_resource(row, objects, self.registry) for row in plan.rows.values() if row is not None]
        if live:
            db.executemany(_RESOURCE, live)
        relabeled = [key for key, row in plan.rows.items()
                     if row is None or key not in current or current[key].labels != row.labels]
        if relabeled:
            db.executemany(_UNLABEL, relabeled)
            labels = [(*key, k, v) for key in relabeled if (row := plan.rows[key]) is not None
                      for k, v in row.labels.items()]
            if labels:
                db.executemany(_LABEL, labels)
        kept = self._changes
        if kept is None:
            kept = int(db.execute("SELECT count(*) FROM changes").fetchone()[0])
        if changes:
            kept += db.executemany(_CHANGE, changes).rowcount
            if kept > RETAIN_CHANGES:
                kept = self._prune_changes(kept)
        return kept

    def _prune_changes(self, kept: int) -> int:
        """Keep the newest RETAIN_CHANGES of the `kept` entries; remember the horizon so old cursors are
        refused. Returns how many entries remain.

        The horizon is the newest entry dropped: with the feed's size known (the writer counts it), it is
        found from the old end, walking only the entries that go instead of the RETAIN_CHANGES that stay.
        """
        found = self._db.execute("SELECT seq FROM changes ORDER BY seq LIMIT 1 OFFSET ?",
                                 (kept - RETAIN_CHANGES - 1,)).fetchone()
        if found is None:  # cannot happen while the count is right; recount to stay exact
            return int(self._db.execute("SELECT count(*) FROM changes").fetchone()[0])
        self._db.execute("DELETE FROM changes WHERE seq <= ?", (found[0],))
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'changes_horizon'", (str(found[0]),))
        return RETAIN_CHANGES

    def _snapshot(self, path: Path, prune_through: int) -> int:
        db = self._db
        if prune_through > timeline_floor(db):
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM timeline WHERE seq <= ?", (prune_through,))
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('timeline_floor', ?)",
                           (str(prune_through),))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        path.unlink(missing_ok=True)
        db.execute("VACUUM INTO ?", (str(path),))
        return _stored_checkpoint(db)

    def _counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in ("resources", "timeline"):
            found = self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
            out[table] = int(found[0]) if found else 0
        return out


def _open(path: Path) -> tuple[sqlite3.Connection, int]:
    db = schema.connect_writer(path)
    try:
        return db, _stored_checkpoint(db)
    except BaseException:
        db.close()
        raise


def _close_opened(opening: Future[tuple[sqlite3.Connection, int]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[0].close()


def timeline_floor(db: sqlite3.Connection) -> int:
    """The timeline holds nothing at or below this sequence (archived history: `projections.archived`)."""
    found = db.execute("SELECT value FROM meta WHERE key = 'timeline_floor'").fetchone()
    return int(found[0]) if found else 0


def _stored_checkpoint(db: sqlite3.Connection) -> int:
    found = db.execute("SELECT seq FROM checkpoint WHERE id = 1").fetchone()
    return int(found[0]) if found else 0


def _object(row: Row, objects: dict[int, str], registry: Registry) -> str:
    found = objects.get(id(row))
    if found is None:
        found = objects[id(row)] = _json.encode(reducer.to_api(row, registry)).decode()
    return found


def _resource(row: Row, objects: dict[int, str], registry: Registry) -> tuple[Any, ...]:
    return (row.kind, row.namespace, row.name, row.phase, _json.encode(row.labels).decode(), row.last_seq,
            _json.encode(row), _object(row, objects, registry))
