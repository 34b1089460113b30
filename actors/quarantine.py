"""The quarantine book: failing resources the host remembers across restarts (KV, key `q.<token>`).

Why KV and not only the resource's ctl slice: a step that hangs or kills the process may leave no event
behind, and catch-up must know *before* deciding (or refolding) that this resource's step is poisoned.
The book is small (only failing resources) and loaded whole at start. Its `records` dict is read on the
hot path without I/O; writes go to the bucket in the background, in order per resource.
"""
from __future__ import annotations

import asyncio

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.js.kv import KeyValue

from actors.failures import FailureRecord
from core.metrics import QUARANTINED

log = structlog.get_logger("bosun.controller")
PREFIX = "q."
_decode = msgspec.json.Decoder(FailureRecord).decode
_encode = msgspec.json.Encoder().encode


class QuarantineBook:
    def __init__(self, scope: str = "") -> None:
        self.prefix = f"{scope}.{PREFIX}" if scope else PREFIX
        self.records: dict[str, FailureRecord] = {}
        self.kv: KeyValue | None = None
        self._writes: dict[str, asyncio.Task[None]] = {}

    async def open(self, kv: KeyValue) -> None:
        self.kv = kv
        try:
            watcher = await kv.watch(f"{self.prefix}>", ignore_deletes=True)
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value:
                    self.records[entry.key[len(self.prefix):]] = _decode(entry.value)
            await watcher.stop()  # type: ignore[no-untyped-call]
        except (nats.errors.Error, msgspec.DecodeError) as e:
            log.warning("could not load the quarantine book; starting empty", error=str(e))
        self._gauge()

    def put(self, token: str, rec: FailureRecord) -> None:
        self.records[token] = rec
        self._gauge()
        self._write(token, _encode(rec))

    def release(self, token: str) -> FailureRecord | None:
        rec = self.records.pop(token, None)
        if rec is not None:
            self._gauge()
            self._write(token, None)
        return rec

    def _gauge(self) -> None:
        QUARANTINED.set(sum(1 for r in self.records.values() if r.quarantined))

    def _write(self, token: str, value: bytes | None) -> None:
        previous = self._writes.get(token)
        task = asyncio.create_task(self._store(token, value, previous))
        self._writes[token] = task
        task.add_done_callback(lambda t: self._writes.pop(token, None) if self._writes.get(token) is t else None)

    async def _store(self, token: str, value: bytes | None, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        if self.kv is None:
            return
        key = self.prefix + token
        try:
            if value is None:
                await self.kv.delete(key)
            else:
                await self.kv.put(key, value)
        except (nats.errors.Error, nats.js.errors.Error) as e:
            log.warning("could not store quarantine record", token=token, error=str(e))
