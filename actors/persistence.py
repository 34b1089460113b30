"""What a controller host keeps between incarnations: actor snapshots, and per partition a checkpoint
(the stream sequence every snapshot covers) with the timers of actors not in memory.

Snapshots are written many at a time (a flush can hold tens of thousands of dirty actors), through the
log's shared reply inbox.
Timers ride in the checkpoint so a passivated resource waiting on one (a placement retry) still wakes
after a restart, although nothing loads it until then.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import msgspec
import nats.errors
import nats.js.errors
import structlog

from actors.cells import Cell
from core import log as corelog
from core.log import Log

log = structlog.get_logger("bosun.controller")
WINDOW = 256
"""Snapshot puts in flight at once."""
PACED_WINDOW = 32
PACE = 0.005
"""A paced save (the periodic flush) puts PACED_WINDOW snapshots, then lets the loop breathe PACE seconds: at
800 applies/s the flush puts ~1,800 actors every 2 s, and all at once it held every deployment's next step
for up to ~150 ms (the declared->Ready p50 rose in step with it, `bench/RESULTS.md`); a stop's final flush is
not paced (it has a deadline)."""
LIST_TRIES = 3


class Checkpoint(msgspec.Struct, frozen=True):
    seq: int = 0
    timers: dict[str, float] = {}
    """Resource token -> wall-clock time its actor asked to be woken."""


_decode_checkpoint = msgspec.json.Decoder(Checkpoint).decode
_encode = msgspec.json.Encoder().encode


class Persistence:
    def __init__(self, lg: Log, prefix: str = "") -> None:
        self.log = lg
        self.prefix = prefix
        """Checkpoint keys of this host's scope (`<scope>.`): each set of kinds has its own consumer."""
        self.keys: set[str] | None = None
        """Keys of the snapshot bucket, listed once at start and extended by our own saves; None = unknown
        (then every activation asks the bucket). A resource not in it has no snapshot: no KV round trip."""

    async def open(self) -> None:
        self.snapshots = await self.log.kv(corelog.SNAPSHOTS)
        self.checkpoints = await self.log.kv(corelog.CHECKPOINTS)

    # ---- snapshots -------------------------------------------------------------------------------------

    async def list_keys(self) -> None:
        """List the snapshot bucket's keys once (metadata only), so cold start skips a `get` per new resource.

        Our partitions are leased before this runs and only we write their snapshots from now on (`save`
        adds to the set), so a key absent here has no snapshot. On any error the set stays None: every
        activation then asks the bucket, as before.

        The listing is checked against the bucket's message count (history 1: one message per key): nats-py's
        watch can signal "caught up" before delivering anything (its consumer info races the deliveries;
        about 1 listing in 200 came back empty). A short listing trusted here made a restarted controller
        start every actor fresh — and one whose ctl subject was quiet since before the checkpoint was then
        fenced forever (chaos rounds, bench/RESULTS.md). Short after a few tries: unknown (None).
        """
        try:
            expected = (await self.log.jsm.stream_info(f"KV_{corelog.SNAPSHOTS}")).state.messages
            for _ in range(LIST_TRIES):
                keys = set(await self.matching(">"))
                if len(keys) >= expected:
                    self.keys = keys
                    return
            log.warning("snapshot listing came back short; loading each on activation", listed=len(keys),
                        messages=expected)
        except nats.errors.Error as e:
            log.warning("could not list snapshots; loading each on activation", error=str(e))

    async def matching(self, pattern: str) -> list[str]:
        if self.keys is not None:
            prefix = pattern[:-1] if pattern.endswith(">") else pattern
            return [k for k in self.keys if k.startswith(prefix)]
        watcher = await self.snapshots.watch(pattern, ignore_deletes=True, meta_only=True)
        keys: list[str] = []
        async for entry in watcher:
            if entry is None:  # the watcher's "caught up" marker
                break
            keys.append(entry.key)
        await watcher.stop()  # type: ignore[no-untyped-call]
        return keys

    async def load(self, token: str) -> bytes | None:
        """The snapshot of `token`, or None when it has none."""
        if self.keys is not None and token not in self.keys:
            return None  # never snapshotted: nothing to load
        try:
            return (await self.snapshots.get(token)).value or b""
        except nats.js.errors.KeyNotFoundError:
            return None

    async def save(self, cells: Iterable[Cell], paced: bool = False, allowed: Callable[[], bool] | None = None
                   ) -> None:
        """Snapshot `cells`, WINDOW puts in flight at a time (`paced`: see PACE), each window only while
        `allowed()` (a host's leases); a cell folded during its put, or not put, stays dirty."""
        batch = list(cells)
        window = PACED_WINDOW if paced else WINDOW
        for i in range(0, len(batch), window):
            if allowed is not None and not allowed():
                return
            await asyncio.gather(*(self._save(c) for c in batch[i:i + window]))
            if paced and i + window < len(batch):
                await asyncio.sleep(PACE)

    async def _save(self, cell: Cell) -> None:
        version = cell.version
        token = cell.key
        if self.keys is not None:
            self.keys.add(token)  # before the put: a reload racing it must ask the bucket
        await self.log.kv_put(corelog.SNAPSHOTS, token, cell.snapshot())
        cell.saved = max(cell.saved, version)

    # ---- checkpoints ---------------------------------------------------------------------------------

    async def checkpoint(self, partition: int) -> Checkpoint:
        try:
            raw = (await self.checkpoints.get(f"{self.prefix}p.{partition}")).value or b"0"
        except nats.js.errors.KeyNotFoundError:
            return Checkpoint()
        if raw.strip().isdigit():  # written before timers were kept
            return Checkpoint(seq=int(raw))
        return _decode_checkpoint(raw)

    async def write_checkpoint(self, partition: int, checkpoint: Checkpoint) -> None:
        await self.checkpoints.put(f"{self.prefix}p.{partition}", _encode(checkpoint))
