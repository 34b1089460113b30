"""Pure: what a batch of stored messages does to the read model, as plain row writes.

The writer loads the current rows of the resources a batch touches, hands them here, and writes the
returned plan in one transaction with the checkpoint. Keeping the planning pure makes the batch
boundaries irrelevant to the result (a rebuild with other batch sizes yields identical tables).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from msgspec.structs import replace

from actors.controller import DEFAULT, Registry
from core import subjects
from projections import reducer, timeline
from projections.reducer import Row

if TYPE_CHECKING:
    from core.log import StoredMessage

Key = tuple[str, str, str]
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class ChangeRow:
    """One entry of the watch feed: the object after the change (for DELETED: its last state)."""

    seq: int
    key: Key
    type: ChangeType
    row: Row


@dataclass
class Plan:
    timeline: list[timeline.Written] = field(default_factory=list)
    rows: dict[Key, Row | None] = field(default_factory=dict)
    """Final state of every resource this batch changed (None = deleted)."""
    changes: list[ChangeRow] = field(default_factory=list)
    last_seq: int = 0


_parse = functools.lru_cache(maxsize=4096)(subjects.parse)
"""`subjects.parse`, remembered: a batch's subjects are parsed by `keys_of` and again by `plan`, and a
resource's few subjects recur batch after batch. (Parsed subjects are immutable.)"""


def keys_of(messages: list[StoredMessage]) -> set[Key]:
    """Resources whose current rows the plan needs."""
    out: set[Key] = set()
    for m in messages:
        try:
            parsed = _parse(m.subject)
        except ValueError:
            continue
        if parsed.slice != subjects.CMD:  # commands never change a resource row
            out.add((parsed.ref.kind, parsed.ref.namespace, parsed.ref.name))
    return out


def plan(messages: list[StoredMessage], current: dict[Key, Row], registry: Registry = DEFAULT) -> Plan:
    """Fold `messages` (ascending, all newer than the checkpoint) over `current` rows."""
    out = Plan()
    state: dict[Key, Row | None] = dict(current)
    entries, rows, changes = out.timeline, out.rows, out.changes
    last_seq = 0
    for m in messages:
        last_seq = max(last_seq, m.seq)
        try:
            parsed = _parse(m.subject)  # once per message: decode, entry and fold share it
        except ValueError:
            continue
        event = reducer.decode_parsed(m, parsed, registry)
        entries.append(timeline.written(m, event, parsed))
        if event is None:
            continue
        ref = parsed.ref
        key = (ref.kind, ref.namespace, ref.name)
        before = state.get(key)
        after = reducer.fold_parsed(before, m, event, parsed, registry)
        if after is before:
            continue
        state[key] = rows[key] = after
        changes.append(_change(m.seq, key, before, after))
    out.last_seq = last_seq
    return out


def _change(seq: int, key: Key, before: Row | None, after: Row | None) -> ChangeRow:
    if after is None:
        assert before is not None
        gone = replace(before, deletion_requested=True, finalizers=(), last_seq=seq)
        return ChangeRow(seq, key, "DELETED", gone)
    return ChangeRow(seq, key, "ADDED" if before is None else "MODIFIED", after)
