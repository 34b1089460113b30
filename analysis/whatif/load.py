"""Where a fork starts: every actor's state as the controller host would restore it, read from the live log.

The host's own cold-start recipe (`actors/host.py`, `actors/persistence.py`): the snapshots in KV
`bosun-snapshots`, then ONE ordered pass of the stream from the oldest partition checkpoint, folded with
the cells' sequence rules (`actors.cells.Cell`), so a plan costs the snapshots plus the short tail since
the last flush instead of a fold of everything. Snapshots are decoded only for the actors the fork
needs (the tail's targets, view publishers, armed timers, the manifests' resources). Only reads.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors

from actors import kernel
from actors.cells import Cell
from actors.partitions import resource_token
from actors.persistence import Checkpoint
from analysis.whatif.registry import companions as companions_of
from analysis.whatif.registry import controller_for, controllers, hosted, registry
from core import codec, subjects
from core import log as corelog
from core.log import Log
from core.names import Ref

PARTITIONS = 16
"""The host's default partition count: fewer checkpoints than this means some partition never flushed."""
_AUDIT = subjects.AUDIT[:-1]


@dataclass
class Start:
    """The fork's starting point: states as of `upto`, and the timers armed then."""

    upto: int
    time: float
    """Event time of the log's last message: the fork's virtual clock starts there."""
    cells: dict[Ref, Cell] = field(default_factory=dict)
    timers: dict[Ref, float] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    """Snapshots not decoded (yet): ref token -> stored bytes."""
    tail: int = 0
    """Messages folded after the snapshots (what reading snapshots saved is everything before them)."""
    companion_cells: dict[tuple[Ref, str], Cell] = field(default_factory=dict)
    """Companion actors (the autoscaler's), by (resource, companion name)."""
    companion_timers: dict[tuple[Ref, str], float] = field(default_factory=dict)

    def cell(self, ref: Ref) -> Cell | None:
        """The actor of `ref` (restored from its snapshot on first use); None for kinds without one."""
        found = self.cells.get(ref)
        if found is not None:
            return found
        ctrl = controller_for(ref.kind)
        if ctrl is None:
            return None
        data = self.raw.pop(ref.token, None)
        cell = Cell(ref, ctrl) if data is None else Cell(ref, ctrl, Cell.load(data))
        self.cells[ref] = cell
        return cell

    def companion(self, ref: Ref, name: str, start: bool = False) -> Cell | None:
        """A companion's actor: restored from its snapshot, or `start`ed (an event it wants arrived, as the
        kernel routes it); None when the resource has none (yet)."""
        found = self.companion_cells.get((ref, name))
        if found is not None:
            return found
        ctrl = next((c for c in companions_of(ref.kind) if c.companion == name), None)
        if ctrl is None:
            return None
        data = self.raw.pop(f"{ref.token}.{name}", None)
        if data is None and not start:
            return None
        cell = Cell(ref, ctrl) if data is None else Cell(ref, ctrl, Cell.load(data))
        self.companion_cells[(ref, name)] = cell
        return cell

    def known(self, key: str) -> bool:
        """Does this actor exist: restored already, or a snapshot waiting to be."""
        if key in self.raw:
            return True
        token = resource_token(key)
        ref = Ref.parse(token)
        return ref in self.cells if key == token else (ref, key[len(token) + 1:]) in self.companion_cells

    def states(self) -> dict[Ref, Any]:
        return {ref: cell.state for ref, cell in self.cells.items()}

    def companion_states(self) -> dict[tuple[Ref, str], Any]:
        return {actor: cell.state for actor, cell in self.companion_cells.items()}


async def load(log: Log, also: Sequence[Ref] = ()) -> Start:
    """The state of every actor the fork needs as of the log's last message (plus `also`)."""
    upto = await log.last_seq()
    checkpoints = await _checkpoints(log)
    begin = min((c.seq for c in checkpoints), default=0) if len(checkpoints) >= PARTITIONS else 0
    start = Start(upto=upto, time=await _last_time(log, upto), raw=await _snapshots(log))
    for checkpoint in checkpoints:
        for token, when in checkpoint.timers.items():
            resource = resource_token(token)
            if resource != token:  # a companion actor's timer (the autoscaler's)
                start.companion_timers[(Ref.parse(resource), token[len(resource) + 1:])] = when
                continue
            start.timers[Ref.parse(token)] = when
    await _tail(log, start, begin + 1)
    publishers = {c.info.key for c in controllers() if c.publishes_view}
    for token in [t for t in start.raw if t.split(".", 1)[0] in publishers]:
        start.cell(Ref.parse(token))
    for ref in [*also, *start.timers]:
        start.cell(ref)
    for ref in [*also, *(r for r, _ in start.companion_timers)]:
        for c in companions_of(ref.kind):
            start.companion(ref, c.companion)
    for ref, cell in start.cells.items():
        if cell.wake_at is not None:
            start.timers[ref] = cell.wake_at
    for actor, cell in start.companion_cells.items():
        if cell.wake_at is not None:
            start.companion_timers[actor] = cell.wake_at
    return start


async def _tail(log: Log, start: Start, first: int) -> None:
    if first > start.upto:
        return
    async with contextlib.aclosing(log.read(">", start_seq=first, up_to_seq=start.upto)) as messages:
        async for m in messages:
            if m.subject.startswith(_AUDIT):
                continue
            try:
                owner = subjects.parse(m.subject).ref
                event = codec.decode(registry().kind(owner.kind), m.data, m.headers)
            except Exception:  # noqa: BLE001 - the host skips what it cannot decode, and so do we
                continue
            start.tail += 1
            for ref in kernel.targets(owner, m.headers, hosted):
                for key in kernel.recipients(registry(), [ref], event, start.known):
                    name = key[len(ref.token) + 1:]  # a companion's key is `<token>.<name>`
                    cell = start.companion(ref, name, start=True) if name else start.cell(ref)
                    if cell is None:
                        continue
                    kernel.fold(cell, m.seq, m.subject, event)  # as the host folds it (a failing evolve skipped)
                    cell.causes.clear()


async def _checkpoints(log: Log) -> list[Checkpoint]:
    from actors.persistence import _decode_checkpoint

    out: list[Checkpoint] = []
    for _key, value in await _bucket(log, corelog.CHECKPOINTS):
        raw = value or b"0"
        out.append(Checkpoint(seq=int(raw)) if raw.strip().isdigit() else _decode_checkpoint(raw))
    return out


async def _snapshots(log: Log) -> dict[str, bytes]:
    return {key: value for key, value in await _bucket(log, corelog.SNAPSHOTS) if value}


LIST_TRIES = 5


async def _bucket(log: Log, bucket: str) -> list[tuple[str, bytes]]:
    """Every live key of a KV bucket with its value, in one ordered pass (a KV watch to its end marker).

    The pass must hold one entry per key the bucket had when it began (history 1: the bucket's message count,
    delete markers included): nats-py's watch can signal "caught up" before it delivered everything (its
    consumer info races the deliveries; `actors.persistence.Persistence.list_keys` met the same), and a short
    listing made a plan start without the pool's snapshot: "no ready GpuPool matches". A short pass is read
    again."""
    try:
        kv = await log.kv(bucket)
    except (nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
        return []
    out: list[tuple[str, bytes]] = []
    for _ in range(LIST_TRIES):
        expected = (await log.jsm.stream_info(f"KV_{bucket}")).state.messages
        out, seen = await _pass(kv)
        if seen >= expected:
            return out
    return out  # still short after a few passes: the best we read (the plan says what it started from)


async def _pass(kv: Any) -> tuple[list[tuple[str, bytes]], int]:
    """(live keys with values, entries seen including delete markers) of one watch to its end marker."""
    watcher = await kv.watch(">")
    out: list[tuple[str, bytes]] = []
    seen = 0
    try:
        async for entry in watcher:
            if entry is None:
                break
            seen += 1
            if entry.operation is None:  # a put; DEL and PURGE are markers
                out.append((entry.key, entry.value or b""))
    finally:
        with contextlib.suppress(nats.errors.Error):
            await watcher.stop()
    return out, seen


async def _last_time(log: Log, upto: int) -> float:
    if upto <= 0:
        return 0.0
    async with contextlib.aclosing(log.read(">", start_seq=upto, up_to_seq=upto)) as messages:
        async for m in messages:
            return m.time
    return 0.0
