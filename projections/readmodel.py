"""The read API over the live generation: what the gateway calls for get, list, history and watch.

Readers follow the CURRENT pointer: every query first checks (one `stat`) whether a rebuild flipped it
and, if so, reopens on the new generation; the old connection is closed once no query uses it.
Before any projector ran there is no generation and every query answers empty.
"""
from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import aiosqlite
import msgspec
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from actors.controller import DEFAULT, Registry
from projections import audit, generations, pages, replica_table, schema, selectors, spend, usage

CHANGED = "bosun.sys.projections.changed"
"""Core-NATS notification published by the projector after every commit: `{"seq": <checkpoint>}`."""

WATCH_BATCH = 1000
_decode = msgspec.json.Decoder(dict[str, Any])


class ChangesExpired(Exception):
    """The watch cursor is older than the retained change feed: list again, then watch from checkpoint()."""


class Change(NamedTuple):
    seq: int
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: dict[str, Any]
    """The object after the change; for DELETED, its last state."""


Objects = list[dict[str, Any]]
Changes = list[Change]
Rows = list[Any]
Page = tuple[Objects, str | None]
"""One page of API objects or history items, and the continue token of the next page (None = last)."""


@dataclass
class _Generation:
    number: int
    db: aiosqlite.Connection
    users: int = 0
    retired: bool = False


class ReadModel:
    """Queries over the current read-model generation. One instance per process; safe for concurrent use."""

    def __init__(self, db_dir: Path, poll: float, registry: Registry = DEFAULT) -> None:
        self.db_dir = db_dir
        self.registry = registry
        self._poll = poll
        self._gen: _Generation | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._switch = asyncio.Lock()
        self._changed = asyncio.Event()
        self._sub: Subscription | None = None

    @classmethod
    async def open(cls, db_dir: Path, nc: NATS | None = None, *, poll: float | None = None,
                   registry: Registry = DEFAULT) -> ReadModel:
        """With `nc`, waits wake on the projector's notifications (slow poll as fallback); without, they poll."""
        model = cls(Path(db_dir), poll if poll is not None else (1.0 if nc is not None else 0.05), registry)
        if nc is not None:
            model._sub = await nc.subscribe(CHANGED, cb=model._on_changed)
        return model

    async def _on_changed(self, _msg: Any) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def generation(self) -> int | None:
        return None if self._gen is None else self._gen.number

    # ---- queries --------------------------------------------------------------------------------------

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The API object, or None when absent (never created, or gone after its finalizers)."""
        sql = "SELECT object FROM resources WHERE kind = ? AND namespace = ? AND name = ?"
        rows = await self._fetch(sql, (self._kind(kind), namespace, name))
        return _decode.decode(rows[0][0]) if rows else None

    async def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None,
                   phase: str | None = None, limit: int = 500,
                   continue_token: str | None = None) -> Page:
        """One page of objects ordered by (namespace, name), and the token of the next page or None.

        Raises selectors.BadSelector / pages.BadContinue on malformed input (HTTP 400).
        """
        key = self._kind(kind)
        reqs = selectors.parse(label_selector)
        query = pages.fingerprint("list", key, namespace, label_selector, phase)
        where: list[str] = ["r.kind = ?"]
        params: list[Any] = [key]
        if namespace is not None:
            where.append("r.namespace = ?")
            params.append(namespace)
        if phase is not None:
            where.append("r.phase = ?")
            params.append(phase)
        if continue_token:
            after = pages.decode_list(continue_token, query)
            where.append("(r.namespace, r.name) > (?, ?)")
            params += [after.namespace, after.name]
        if reqs:
            clause, extra = selectors.sql_over_labels_table(reqs, "r")
            where.append(clause)
            params += extra
        limit = max(1, limit)
        sql = (f"SELECT r.namespace, r.name, r.object FROM resources r WHERE {' AND '.join(where)} "
               "ORDER BY r.namespace, r.name LIMIT ?")
        rows = await self._fetch(sql, (*params, limit + 1))
        items = [_decode.decode(obj) for _, _, obj in rows[:limit]]
        token = pages.encode(pages.ListCursor(query, rows[limit - 1][0], rows[limit - 1][1])) \
            if len(rows) > limit else None
        return items, token

    async def history(self, kind: str, namespace: str, name: str, limit: int = 100,
                      continue_token: str | None = None, since_seq: int | None = None,
                      types: Sequence[str] | None = None,
                      tail: bool = False) -> Page:
        """One page of the resource's timeline; items are always in stream order (ascending seq).

        `tail=False` pages forward from the beginning (or from after `since_seq`). `tail=True` starts at
        the END: the first page is the newest `limit` items and `continue` walks back toward older
        ones (never below `since_seq`). Both are index range scans, so the last page of a 100k-event
        history costs the same as the first. Timelines survive deletion.
        """
        query = pages.fingerprint("history", self._kind(kind), namespace, name, since_seq, ",".join(types or ()))
        where = ["kind = ?", "namespace = ?", "name = ?", "seq > ?"]
        params: list[Any] = [self._kind(kind), namespace, name, since_seq or 0]
        if types:
            where.append(f"type IN ({','.join('?' for _ in types)})")
            params += list(types)
        cursor = pages.decode_history(continue_token, query, tail) if continue_token else None
        if cursor is not None:
            where.append("seq < ?" if tail else "seq > ?")
            params.append(cursor.seq)
        limit = max(1, limit)
        sql = (f"SELECT seq, item FROM timeline WHERE {' AND '.join(where)} "
               f"ORDER BY seq {'DESC' if tail else 'ASC'} LIMIT ?")
        rows = await self._fetch(sql, (*params, limit + 1))
        page = rows[:limit]
        token = pages.encode(pages.HistoryCursor(query, page[-1][0], tail)) if len(rows) > limit else None
        if tail:
            page.reverse()
        return [_decode.decode(item) for _, item in page], token

    async def changed_since(self, seq: int, kind: str | None = None, namespace: str | None = None,
                            label_selector: str | None = None, phase: str | None = None,
                            limit: int = 1000) -> Changes:
        """Changes after `seq` matching the filters, in stream order (at most `limit`).

        Filters apply to the object after each change (for DELETED, its last state). To resume without
        gaps, read `checkpoint()` BEFORE calling: when fewer than `limit` changes come back, every change
        up to that checkpoint has been seen. Raises ChangesExpired when `seq` predates the kept feed.
        """
        reqs = selectors.parse(label_selector)
        horizon = await self._fetch("SELECT value FROM meta WHERE key = 'changes_horizon'", ())
        if horizon and seq < int(horizon[0][0]):
            raise ChangesExpired(f"changes before {horizon[0][0]} are no longer kept")
        where: list[str] = ["seq > ?"]
        params: list[Any] = [seq]
        for column, value in (("kind", self._kind(kind) if kind else None), ("namespace", namespace), ("phase", phase)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if reqs:
            clause, extra = selectors.sql_over_json(reqs, "object")
            where.append(clause)
            params += extra
        sql = f"SELECT seq, type, object FROM changes WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        rows = await self._fetch(sql, (*params, max(1, limit)))
        return [Change(s, t, _decode.decode(obj)) for s, t, obj in rows]

    async def watch(self, since: int, *, kind: str | None = None, namespace: str | None = None,
                    label_selector: str | None = None, phase: str | None = None,
                    heartbeat: float = 15.0) -> AsyncGenerator[Change | None, None]:
        """Changes after `since`, forever; yields None every `heartbeat` idle seconds (SSE keep-alive)."""
        selectors.parse(label_selector)  # fail fast on a bad selector, before the first wait
        loop = asyncio.get_running_loop()
        cursor, quiet_since = since, loop.time()
        while True:
            waiter = self._changed
            through = await self.checkpoint()
            batch = await self.changed_since(cursor, kind, namespace, label_selector, phase, WATCH_BATCH)
            for change in batch:
                yield change
            if batch:
                cursor, quiet_since = batch[-1].seq, loop.time()
            if len(batch) >= WATCH_BATCH:
                continue
            cursor = max(cursor, through)  # every change up to `through` was in this (unfilled) batch
            await self._wait(waiter, max(0.0, quiet_since + heartbeat - loop.time()))
            if loop.time() - quiet_since >= heartbeat:
                quiet_since = loop.time()
                yield None

    async def resource_gauges(self) -> builtins.list[tuple[str, str, str, str, int | None, int | None]]:
        """(kind, namespace, name, phase, desired replicas, status.readyReplicas) of every resource: `/metrics`.

        Desired is what the resource converges to (`status.desiredReplicas`: an autoscaler moves it), else
        `spec.replicas` before the first status."""
        sql = ("SELECT kind, namespace, name, phase, COALESCE(json_extract(object, '$.status.desiredReplicas'), "
               "json_extract(object, '$.spec.replicas')), "
               "json_extract(object, '$.status.readyReplicas') FROM resources")
        return [tuple(r) for r in await self._fetch(sql, ())]

    async def audit(self, filters: dict[str, str | None], since: float | None = None, limit: int = 100,
                    continue_token: str | None = None) -> Page:
        """One page of audit records, newest first (filters: principal, namespace, kind, name, decision)."""
        return await audit.query(self._fetch, filters, since, limit, continue_token)

    async def cost(self, namespace: str | None, now: float, kinds: Sequence[str] | None = None
                   ) -> builtins.list[dict[str, Any]]:
        """Spend rate and accumulated GPU-hours/cost per namespace and workload (`GET /v1/cost`), of `kinds`."""
        return await usage.query(self._fetch, namespace, now, kinds)

    async def spend(self, namespace: str | None, since: float | None, now: float, points: int,
                    kinds: Sequence[str] | None = None) -> builtins.list[spend.Point]:
        """GPUs in use, spend rate and accumulated cost over time (`GET /v1/cost/series`), of `kinds`."""
        rows = await self._fetch(*usage.lifetimes_sql(namespace, kinds))
        return spend.series(((int(g), float(p), float(a), b) for g, p, a, b in rows), since, now, points)

    async def replicas(self, kind: str, namespace: str, name: str) -> builtins.list[dict[str, Any]]:
        """The resource's replicas (live ones, then the latest ended): `GET …/{name}/replicas`."""
        return await replica_table.query(self._fetch, self._kind(kind), namespace, name)

    async def cost_rates(self) -> builtins.list[tuple[str, float]]:
        return await usage.rates(self._fetch)

    async def timeline_floor(self) -> int:
        """The timeline holds nothing at or below this sequence: that history is archived
        (`projections.archived` reads it from the log)."""
        rows = await self._fetch("SELECT value FROM meta WHERE key = 'timeline_floor'", ())
        return int(rows[0][0]) if rows else 0

    async def checkpoint(self) -> int:
        """Last stream sequence reflected in the read model (0 before the first projector ran)."""
        rows = await self._fetch("SELECT seq FROM checkpoint WHERE id = 1", ())
        return int(rows[0][0]) if rows else 0

    async def wait_for(self, seq: int, timeout: float) -> bool:
        """Read-your-writes (`?minVersion=`): True once the checkpoint reaches `seq`, False after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            waiter = self._changed  # taken before reading, so a notification in between is not lost
            if await self.checkpoint() >= seq:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self._wait(waiter, remaining)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        gen, self._gen = self._gen, None
        if gen is not None:
            await gen.db.close()

    # ---- plumbing -------------------------------------------------------------------------------------

    async def _wait(self, waiter: asyncio.Event, timeout: float) -> bool:
        """Until the next change notification (True) or min(timeout, poll) elapsed (False)."""
        try:
            await asyncio.wait_for(waiter.wait(), min(timeout, self._poll))
        except TimeoutError:
            return False
        return True

    async def _fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        async with self._use() as db:
            if db is None:
                return []
            async with db.execute(sql, params) as cur:
                return list(await cur.fetchall())

    @contextlib.asynccontextmanager
    async def _use(self) -> AsyncIterator[aiosqlite.Connection | None]:
        gen = await self._current()
        if gen is None:
            yield None
            return
        gen.users += 1
        try:
            yield gen.db
        finally:
            gen.users -= 1
            if gen.retired and gen.users == 0:
                await gen.db.close()

    async def _current(self) -> _Generation | None:
        try:
            st = os.stat(self.db_dir / generations.POINTER)
        except FileNotFoundError:
            return self._gen
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp and self._gen is not None:
            return self._gen
        async with self._switch:
            number = generations.current(self.db_dir)
            if number is None or (self._gen is not None and self._gen.number == number):
                self._stamp = stamp
                return self._gen
            try:
                db = await schema.open_reader(generations.path(self.db_dir, number))
            except aiosqlite.OperationalError:
                return self._gen  # flipped again and already deleted: the next query follows the pointer
            old, self._gen, self._stamp = self._gen, _Generation(number, db), stamp
            if old is not None:
                old.retired = True
                if old.users == 0:
                    await old.db.close()
            return self._gen

    def _kind(self, kind: str) -> str:
        """Accept any alias the registry knows (name, plural, short names); store keys are kind keys."""
        info = self.registry.resolve(kind)
        return info.key if info is not None else kind.lower()
