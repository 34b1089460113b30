"""Pure: what a batch of stored messages does to the read model, as plain row writes.

The writer loads the current rows of the resources a batch touches, hands them here, and writes the
returned plan in one transaction with the checkpoint. Keeping the planning pure makes the batch
boundaries irrelevant to the result (a rebuild with other batch sizes yields identical tables).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from msgspec.structs import replace

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
    timeline: list[timeline.Entry] = field(default_factory=list)
    rows: dict[Key, Row | None] = field(default_factory=dict)
    """Final state of every resource this batch changed (None = deleted)."""
    changes: list[ChangeRow] = field(default_factory=list)
    last_seq: int = 0


def keys_of(messages: list[StoredMessage]) -> set[Key]:
    """Resources whose current rows the plan needs."""
    out: set[Key] = set()
    for m in messages:
        try:
            parsed = subjects.parse(m.subject)
        except ValueError:
            continue
        if parsed.slice != subjects.CMD:  # commands never change a resource row
            out.add((parsed.ref.kind, parsed.ref.namespace, parsed.ref.name))
    return out


def plan(messages: list[StoredMessage], current: dict[Key, Row]) -> Plan:
    """Fold `messages` (ascending, all newer than the checkpoint) over `current` rows."""
    out = Plan()
    state: dict[Key, Row | None] = dict(current)
    for m in messages:
        out.last_seq = max(out.last_seq, m.seq)
        event = reducer.decode(m)
        entry = timeline.entry(m, event)
        if entry is None:
            continue
        out.timeline.append(entry)
        key = (entry.kind, entry.namespace, entry.name)
        before = state.get(key)
        after = reducer.fold(before, m, event)
        if after is before:
            continue
        state[key] = out.rows[key] = after
        out.changes.append(_change(m.seq, key, before, after))
    return out


def _change(seq: int, key: Key, before: Row | None, after: Row | None) -> ChangeRow:
    if after is None:
        assert before is not None
        gone = replace(before, deletion_requested=True, finalizers=(), last_seq=seq)
        return ChangeRow(seq, key, "DELETED", gone)
    return ChangeRow(seq, key, "ADDED" if before is None else "MODIFIED", after)
